//! The terminal: raw mode and the alternate screen for as long as the chat runs (restored on
//! exit, on error and on panic), and the loop that draws the [`App`], waits for a key or a
//! server event, and [`step`]s.

use crate::app::{App, Event, Key};
use crate::session::{step, Credentials, Endpoint, Session};
use crate::ui;
use anyhow::Context;
use crossterm::event::{Event as Input, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

/// Signs in, then runs the chat screen until the person quits.
pub(crate) async fn chat(endpoint: Endpoint, credentials: Credentials) -> anyhow::Result<()> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    // Before the screen switches, so a refused password or an unreachable server reads as a
    // plain error.
    let (mut session, me) = Session::connect(&endpoint, credentials, events_tx)
        .await
        .with_context(|| format!("cannot chat on {}", endpoint.http))?;
    let mut app = App::new(me);
    for effect in app.start() {
        session.apply(effect);
    }
    let result = match Screen::enter() {
        Ok(mut screen) => drive(&mut screen.terminal, &mut app, &mut session, &mut events).await,
        Err(err) => Err(err),
    };
    session.close().await;
    result
}

/// The terminal in raw mode on the alternate screen; dropping it restores the terminal.
/// `ratatui::try_init` also installs a panic hook that restores it before the panic message.
struct Screen {
    terminal: DefaultTerminal,
}

impl Screen {
    fn enter() -> anyhow::Result<Self> {
        match ratatui::try_init() {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(err) => {
                ratatui::restore();
                Err(err).context("setting up the terminal")
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

async fn drive(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    session: &mut Session,
    events: &mut mpsc::UnboundedReceiver<Event>,
) -> anyhow::Result<()> {
    let mut inputs = EventStream::new();
    loop {
        terminal
            .draw(|frame| ui::render(app, frame))
            .context("drawing")?;
        let event = tokio::select! {
            input = inputs.next() => match input {
                Some(Ok(input)) => match key_of(&input) {
                    Some(key) => Event::Key(key),
                    // A resize, focus change, …: just draw again.
                    None => continue,
                },
                Some(Err(err)) => return Err(err).context("reading the terminal"),
                None => return Ok(()),
            },
            Some(event) = events.recv() => event,
        };
        if step(app, session, event).is_break() {
            return Ok(());
        }
        // Take in everything else that is waiting before drawing again.
        while let Ok(event) = events.try_recv() {
            if step(app, session, event).is_break() {
                return Ok(());
            }
        }
    }
}

/// The [`Key`] a terminal event stands for, if any.
fn key_of(input: &Input) -> Option<Key> {
    let Input::Key(key) = input else {
        return None;
    };
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char(c) => Some(Key::Ctrl(c.to_ascii_lowercase())),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::ALT) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> Input {
        Input::Key(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn keys_map_to_chat_keys() {
        assert_eq!(
            key_of(&press(KeyCode::Char('N'), KeyModifiers::CONTROL)),
            Some(Key::Ctrl('n'))
        );
        assert_eq!(
            key_of(&press(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            Some(Key::Char('A'))
        );
        assert_eq!(
            key_of(&press(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Key::BackTab)
        );
        assert_eq!(key_of(&press(KeyCode::Char('x'), KeyModifiers::ALT)), None);
        assert_eq!(key_of(&press(KeyCode::F(1), KeyModifiers::NONE)), None);
        assert_eq!(key_of(&Input::Resize(80, 24)), None);
        let mut release = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(key_of(&Input::Key(release)), None);
    }
}
