//! Drawing: [`render`] paints an [`App`] into a ratatui [`Frame`]. It reads the state and
//! never changes it, so a `TestBackend` buffer is enough to test what a person sees.
//!
//! The screen, sized for 80x24 and up:
//!
//! ```text
//! ┌ Rooms ─────────────────┐┌ Team ─────────────────────────────────────────┐
//! │› Team                  ││4 09:30 bob: hi                                │
//! │  Bob                 @2││    ↳ bob: hi                                  │
//! │                        ││5 09:31 you: hello                             │
//! │                        ││        👍 2                                    │
//! └────────────────────────┘└───────────────────────────────────────────────┘
//! ┌ Message ──────────────────────────────────────────────────────────────────┐
//! │                                                                           │
//! └───────────────────────────────────────────────────────────────────────────┘
//! ● Connected as alice │ carol in Ops: standup?
//! Tab/↑↓ rooms  Enter send  PgUp/PgDn history  Ctrl-D direct  /help  Esc quit
//! ```
//!
//! Each message starts with its number (its `seq`), which the commands name (`/reply 4 …`); a
//! reply has a `↳ name: quote` line above it, reactions a line of `emoji count` below it, and
//! a message that mentions the reader is in yellow.

use crate::app::{display_name, one_line, App, Mode, Notice, SendState, TimelineItem};
use chrono::{DateTime, Local};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use sotong_client::State;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// The key help at the bottom of the screen.
pub const HELP: &str =
    "Tab/↑↓ rooms  Enter send  PgUp/PgDn history  Ctrl-D direct  /help  Esc quit";
/// The key help while typing a username.
pub const HELP_DIRECT: &str = "Enter start the chat  Esc cancel";
/// Longest sender name shown before a message.
const NAME_WIDTH: usize = 14;

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let [main, composer, status, help] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let rooms_width = (frame.area().width / 3).clamp(16, 28);
    let [rooms, messages] =
        Layout::horizontal([Constraint::Length(rooms_width), Constraint::Min(10)]).areas(main);
    render_rooms(app, frame, rooms);
    render_timeline(app, frame, messages);
    render_composer(app, frame, composer);
    frame.render_widget(
        Paragraph::new(status_line(app, usize::from(status.width))),
        status,
    );
    let help_text = match app.mode() {
        Mode::Compose => HELP,
        Mode::Direct => HELP_DIRECT,
    };
    frame.render_widget(
        Paragraph::new(help_text).style(Style::new().fg(Color::DarkGray)),
        help,
    );
}

fn render_rooms(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::bordered().title(" Rooms ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if app.rooms().is_empty() {
        let hint = Paragraph::new(vec![
            Line::from("No rooms yet."),
            Line::from("Ctrl-D: message"),
            Line::from("someone."),
        ])
        .style(Style::new().fg(Color::DarkGray));
        frame.render_widget(hint, inner);
        return;
    }
    let open = app.open_room().map(|o| o.id);
    let selected = app
        .rooms()
        .iter()
        .position(|r| Some(r.id) == open)
        .unwrap_or(0);
    // Scroll the list so the open room stays in view.
    let first = selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line<'_>> = app
        .rooms()
        .iter()
        .skip(first)
        .take(height)
        .map(|room| {
            let is_open = Some(room.id) == open;
            // `@` beside the count: some of the unread messages mention the reader.
            let count = match (room.unread, room.unread_mentions) {
                (0, 0) => String::new(),
                (unread, 0) => unread.to_string(),
                (unread, _) => format!("@{unread}"),
            };
            let marker = if is_open { "› " } else { "  " };
            let name_width = width.saturating_sub(2 + count.len() + usize::from(!count.is_empty()));
            let name = fit(&room.name, name_width);
            let gap = width.saturating_sub(2 + name.width() + count.len());
            let mut name_style = Style::new();
            if is_open {
                name_style = name_style.add_modifier(Modifier::BOLD | Modifier::REVERSED);
            } else if room.unread > 0 {
                name_style = name_style.add_modifier(Modifier::BOLD);
            }
            Line::from(vec![
                Span::styled(marker, name_style),
                Span::styled(format!("{name}{}", " ".repeat(gap)), name_style),
                Span::styled(
                    count,
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_timeline(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(open) = app.open_room() else {
        let block = Block::bordered().title(" sotong ");
        let hint = Paragraph::new("Pick a room on the left, or press Ctrl-D to message someone.")
            .style(Style::new().fg(Color::DarkGray))
            .block(block);
        frame.render_widget(hint, area);
        return;
    };
    let name = app.room(open.id).map_or("…", |r| r.name.as_str());
    let title = format!(" {name} ");
    let mut block = Block::bordered().title(fit(&title, usize::from(area.width).saturating_sub(2)));
    if open.scroll > 0 {
        block = block.title_bottom(Line::from(" newer below: End ").right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let items = app.timeline();
    let shown = items.len().saturating_sub(open.scroll);
    let now = Local::now();
    // Newest at the bottom: wrap messages from the newest back until the area is full.
    let mut lines: Vec<Line<'_>> = Vec::new();
    for item in items[..shown].iter().rev() {
        let mut wrapped = item_lines(app, item, width, now);
        wrapped.append(&mut lines);
        lines = wrapped;
        if lines.len() >= height {
            break;
        }
    }
    if lines.len() < height {
        // Every item down to the oldest held fits: say what lies above it.
        let edge = if open.complete {
            if items.is_empty() {
                "No messages yet: say hi."
            } else {
                "· start of the conversation ·"
            }
        } else if open.loading || !open.loaded {
            "loading…"
        } else {
            "PgUp for older messages"
        };
        lines.insert(0, Line::styled(edge, Style::new().fg(Color::DarkGray)));
    }
    if lines.len() < height && shown < items.len() {
        // Scrolled up to the oldest message: fill the pane with what follows it.
        for item in &items[shown..] {
            lines.extend(item_lines(app, item, width, now));
            if lines.len() >= height {
                break;
            }
        }
        lines.truncate(height);
    }
    let skip = lines.len().saturating_sub(height);
    // Short timelines sit at the bottom, next to the composer.
    let pad = height.saturating_sub(lines.len());
    let mut visible: Vec<Line<'_>> = vec![Line::default(); pad];
    visible.extend(lines.into_iter().skip(skip));
    frame.render_widget(Paragraph::new(visible), inner);
}

/// One timeline item as screen lines: `HH:MM name: text`, wrapped under the text's column.
fn item_lines<'a>(
    app: &App,
    item: &TimelineItem<'a>,
    width: usize,
    now: DateTime<Local>,
) -> Vec<Line<'a>> {
    let quiet = Style::new()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::ITALIC);
    let mut mentions_me = false;
    let mut above = None;
    let mut below = None;
    let (time, name, text, mine, note) = match item {
        TimelineItem::Message(message) => {
            mentions_me = message.mentions.contains(&app.me().id);
            above = message.reply_to.as_ref().map(|quoted| {
                let who = if quoted.sender.id == app.me().id {
                    "you"
                } else {
                    display_name(&quoted.sender)
                };
                let quote = if quoted.deleted_at.is_some() {
                    "message deleted".to_string()
                } else {
                    one_line(&quoted.text)
                };
                Line::styled(
                    fit(&format!("    ↳ {who}: {quote}"), width),
                    Style::new().fg(Color::DarkGray),
                )
            });
            if !message.reactions.is_empty() {
                let counts: Vec<String> = message
                    .reactions
                    .iter()
                    .map(|r| format!("{} {}", r.emoji, r.count))
                    .collect();
                below = Some(counts.join("  "));
            }
            let mine = app.is_mine(message);
            let name = if mine {
                "you".to_string()
            } else {
                fit(display_name(&message.sender), NAME_WIDTH)
            };
            // A tombstone keeps its place in the timeline, with no text.
            let (text, note) = if message.deleted_at.is_some() {
                ("", Some(Span::styled("message deleted", quiet)))
            } else if message.edited_at.is_some() {
                (
                    message.text.as_str(),
                    Some(Span::styled(" (edited)", quiet)),
                )
            } else {
                (message.text.as_str(), None)
            };
            let time = format!("{} {}", message.seq, short_time(&message.sent_at, now));
            (time, name, text, mine, note)
        }
        TimelineItem::Pending(pending) => {
            let note = match &pending.state {
                SendState::Sending => Span::styled(
                    " (sending…)",
                    Style::new()
                        .fg(Color::DarkGray)
                        .add_modifier(Modifier::ITALIC),
                ),
                SendState::Failed(why) => {
                    Span::styled(format!(" (not sent: {why})"), Style::new().fg(Color::Red))
                }
            };
            (
                "  …  ".to_string(),
                "you".to_string(),
                pending.text.as_str(),
                true,
                Some(note),
            )
        }
    };
    let prefix_width = time.width() + 1 + name.width() + 2;
    // On a very narrow pane, continuation lines start near the edge instead.
    let indent = if width > prefix_width + 12 {
        prefix_width
    } else {
        2
    };
    let first_width = width.saturating_sub(prefix_width).max(1);
    let rest_width = width.saturating_sub(indent).max(1);
    let chunks = wrap(text, first_width, rest_width);
    let name_style = if mine {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    };
    let text_style = if matches!(item, TimelineItem::Pending(_)) {
        Style::new().fg(Color::DarkGray)
    } else if mentions_me {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let count = chunks.len();
    let mut note = note;
    let mut lines: Vec<Line<'a>> = above.into_iter().collect();
    lines.extend(chunks.into_iter().enumerate().map(|(i, chunk)| {
        let mut spans = if i == 0 {
            vec![
                Span::styled(format!("{time} "), Style::new().fg(Color::DarkGray)),
                Span::styled(name.clone(), name_style),
                Span::raw(": "),
            ]
        } else {
            vec![Span::raw(" ".repeat(indent))]
        };
        spans.push(Span::styled(chunk, text_style));
        if i + 1 == count {
            if let Some(note) = note.take() {
                spans.push(note);
            }
        }
        Line::from(spans)
    }));
    if let Some(reactions) = below {
        lines.push(Line::styled(
            fit(&format!("{}{reactions}", " ".repeat(indent)), width),
            Style::new().fg(Color::Magenta),
        ));
    }
    lines
}

fn render_composer(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let title = match app.mode() {
        Mode::Compose => match app.open_room().and_then(|o| app.room(o.id)) {
            Some(room) => format!(" Message {} ", room.name),
            None => " Message ".to_string(),
        },
        Mode::Direct => " Direct message to (username) ".to_string(),
    };
    let block = Block::bordered()
        .title(fit(&title, usize::from(area.width).saturating_sub(2)))
        .border_style(Style::new().fg(Color::Cyan));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Long input scrolls sideways: the end, where the cursor is, stays in view.
    let room_for_text = usize::from(inner.width).saturating_sub(1);
    let text = tail(app.input(), room_for_text);
    let cursor_x = inner.x + u16::try_from(text.width()).unwrap_or(inner.width);
    frame.render_widget(Paragraph::new(text), inner);
    frame.set_cursor_position(Position::new(cursor_x, inner.y));
}

/// The status line, `width` columns at most: connection state, who is signed in, and the
/// latest notice (cut with `…` when it does not fit).
pub fn status_line(app: &App, width: usize) -> Line<'static> {
    let (label, color) = connection_label(app.connection());
    let who = format!(" as {}", app.me().username);
    let used = label.width() + who.width();
    let mut spans = vec![
        Span::styled(label, Style::new().fg(color).add_modifier(Modifier::BOLD)),
        Span::raw(who),
    ];
    if let Some(notice) = app.notice() {
        let (text, style) = match notice {
            Notice::Message { text, .. } => (text, Style::new().add_modifier(Modifier::BOLD)),
            Notice::Error(text) => (text, Style::new().fg(Color::Red)),
            Notice::Info(text) => (text, Style::new()),
        };
        spans.push(Span::styled(" │ ", Style::new().fg(Color::DarkGray)));
        spans.push(Span::styled(
            fit(text, width.saturating_sub(used + 3)),
            style,
        ));
    }
    Line::from(spans)
}

/// How the connection state reads in the status line.
pub fn connection_label(state: State) -> (&'static str, Color) {
    match state {
        State::Connecting => ("◌ Connecting…", Color::Yellow),
        State::Connected => ("● Connected", Color::Green),
        State::Reconnecting => ("◌ Reconnecting…", Color::Yellow),
        State::Closed => ("○ Offline", Color::Red),
    }
}

/// `HH:MM` in local time for today's messages, `Mon DD HH:MM` for older ones.
pub fn short_time(sent_at: &str, now: DateTime<Local>) -> String {
    match DateTime::parse_from_rfc3339(sent_at) {
        Ok(at) => {
            let at = at.with_timezone(&Local);
            if at.date_naive() == now.date_naive() {
                at.format("%H:%M").to_string()
            } else {
                at.format("%b %d %H:%M").to_string()
            }
        }
        Err(_) => "--:--".to_string(),
    }
}

/// `text` cut to `width` columns, with `…` when it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// The end of `text` that fits in `width` columns.
fn tail(text: &str, width: usize) -> String {
    let mut used = 0;
    let mut start = text.len();
    for (i, c) in text.char_indices().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        start = i;
    }
    text[start..].to_string()
}

/// Word-wraps `text`: the first line `first` columns wide, the others `rest`. Words longer
/// than a line are split; control characters become spaces.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    let limit = |lines: &Vec<String>| if lines.is_empty() { first } else { rest };
    for paragraph in text.split('\n') {
        for word in paragraph.split([' ', '\t', '\r']).filter(|w| !w.is_empty()) {
            let word: String = word
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let word_width = word.width();
            let space = usize::from(used > 0);
            if used + space + word_width <= limit(&lines) {
                if space == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                used += space + word_width;
                continue;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            for c in word.chars() {
                let w = c.width().unwrap_or(0);
                if used + w > limit(&lines) && used > 0 {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += w;
            }
        }
        lines.push(std::mem::take(&mut line));
        used = 0;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::{alice, app_with_rooms, bob, message, sent};
    use crate::app::{Event, Key};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use sotong_client::{Notification, RoomId, Seq};

    fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        terminal.draw(|frame| render(app, frame)).expect("draw");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    fn row_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
        screen
            .iter()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
    }

    #[test]
    fn the_80x24_screen_shows_rooms_counts_messages_and_the_status_line() {
        let mut app = app_with_rooms();
        app.update(Event::RoomMessage(message(1, 4, &bob(), "hi alice")));
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: message(2, 6, &bob(), "lunch at noon?"),
            unread: Some(3),
            mention: false,
            muted: false,
        }));
        for c in "on my way".chars() {
            app.update(Event::Key(Key::Char(c)));
        }
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        assert_eq!(screen.len(), 24);
        // Room list: latest activity first, unread count on the room's row.
        let bob_row = row_with(&screen, "│  Bob");
        assert!(bob_row.contains("3│"), "{bob_row:?}\n{text}");
        let team_row = row_with(&screen, "› Team");
        let rooms_pane = &team_row[..team_row.find("││").expect("two panes")];
        assert!(!rooms_pane.chars().any(|c| c.is_ascii_digit()), "{text}");
        assert!(
            text.find("  Bob").unwrap() < text.find("› Team").unwrap(),
            "{text}"
        );
        // The open room's title and messages.
        assert!(row_with(&screen, "┌ Rooms").contains(" Team "), "{text}");
        assert!(row_with(&screen, "bob: hi alice").contains(':'), "{text}");
        // Composer, status line, key help.
        assert!(row_with(&screen, "Message Team").contains('┌'));
        assert!(row_with(&screen, "on my way").starts_with('│'));
        assert_eq!(
            screen[22].trim_end(),
            "● Connected as alice │ bob: lunch at noon?"
        );
        assert_eq!(screen[23].trim_end(), HELP);
    }

    #[test]
    fn own_messages_are_marked_and_pending_ones_say_so() {
        let mut app = app_with_rooms();
        for text in ["first", "second"] {
            for c in text.chars() {
                app.update(Event::Key(Key::Char(c)));
            }
            app.update(Event::Key(Key::Enter));
        }
        app.update(Event::Sent {
            local: 1,
            result: Ok(sent(4)),
            at: "2024-05-01T09:31:00Z".into(),
        });
        app.update(Event::Connection(State::Reconnecting));
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        assert!(row_with(&screen, "you: first").contains(':'), "{text}");
        assert!(!row_with(&screen, "you: first").contains("sending"));
        assert!(
            row_with(&screen, "you: second").contains("(sending…)"),
            "{text}"
        );
        assert!(screen[22].starts_with("◌ Reconnecting… as alice"), "{text}");
        assert!(!text.contains("alice: first"), "own name shown as you");
        let _ = alice();
    }

    #[test]
    fn long_messages_wrap_and_offline_shows() {
        let mut app = app_with_rooms();
        let long = "word ".repeat(40);
        app.update(Event::RoomMessage(message(1, 4, &bob(), long.trim())));
        app.update(Event::Connection(State::Closed));
        app.update(Event::Key(Key::Ctrl('d')));
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        let wrapped = screen.iter().filter(|l| l.contains("word word")).count();
        assert!(wrapped >= 4, "{text}");
        assert!(screen[22].starts_with("○ Offline"), "{text}");
        assert!(text.contains("Direct message to (username)"), "{text}");
        assert_eq!(screen[23].trim_end(), HELP_DIRECT);
        // Nothing is drawn past the right edge: every row is exactly 80 cells.
        assert!(screen.iter().all(|l| l.chars().count() == 80));
    }

    #[test]
    fn an_edited_message_says_so_and_a_deleted_one_keeps_its_place_without_its_text() {
        let mut app = app_with_rooms();
        app.update(Event::RoomChanged(crate::app::tests::changed(
            2, "fixed it", 1, false,
        )));
        app.update(Event::RoomChanged(crate::app::tests::changed(
            3, "", 2, true,
        )));
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        let line = |needle: &str| screen.iter().find(|l| l.contains(needle)).cloned();
        assert!(line("bob: fixed it (edited)").is_some(), "{text}");
        assert!(line("bob: message deleted").is_some(), "{text}");
        assert!(!text.contains("bob: old (edited)"), "{text}");
        assert_eq!(
            screen.iter().filter(|l| l.contains("bob: old")).count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn replies_reactions_mentions_and_message_numbers_show() {
        let mut app = app_with_rooms();
        let mut reply = message(1, 4, &bob(), "yes @alice");
        reply.mentions = vec![alice().id];
        reply.reply_to = Some(sotong_client::ReplyPreview {
            seq: Seq(2),
            sender: bob(),
            text: "lunch?\nat noon".into(),
            edited_at: None,
            deleted_at: None,
            attachments: 0,
        });
        reply.reactions = vec![
            sotong_client::Reaction {
                emoji: "👍".into(),
                count: 2,
                user_ids: vec![alice().id, bob().id],
            },
            sotong_client::Reaction {
                emoji: "🎉".into(),
                count: 1,
                user_ids: vec![bob().id],
            },
        ];
        app.update(Event::RoomMessage(reply));
        let mut mention = message(2, 6, &bob(), "@alice look");
        mention.mentions = vec![alice().id];
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: mention,
            unread: Some(3),
            mention: true,
            muted: false,
        }));
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        let quote = row_with(&screen, "↳ bob: lunch? at noon");
        let line = row_with(&screen, "bob: yes @alice");
        assert!(line.contains("│4 "), "the message's number first: {text}");
        let quote_at = screen.iter().position(|l| l == quote).expect("quote row");
        let line_at = screen.iter().position(|l| l == line).expect("message row");
        assert_eq!(
            quote_at + 1,
            line_at,
            "the quote right above the reply: {text}"
        );
        // A wide emoji takes two cells; the test screen shows the second as a space.
        let reactions = one_line(&screen[line_at + 1]);
        assert!(reactions.contains("│ 👍 2 🎉 1 │"), "{text}");
        assert!(row_with(&screen, "│  Bob").contains("@3│"), "{text}");
        // The mention is in yellow.
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
        terminal.draw(|frame| render(&app, frame)).expect("draw");
        let buffer = terminal.backend().buffer();
        let y = u16::try_from(line_at).expect("row");
        let x = u16::try_from(line.chars().position(|c| c == '@').expect("@")).expect("col");
        assert_eq!(buffer[(x, y)].fg, ratatui::style::Color::Yellow);
    }

    #[test]
    fn scrolled_to_the_top_the_pane_stays_full_and_long_notices_are_cut() {
        let mut app = App::new(alice());
        app.update(Event::Rooms(vec![
            crate::app::tests::room(1, sotong_client::RoomKind::Group, "Team", 30, 0),
            crate::app::tests::room(2, sotong_client::RoomKind::Group, "Ops", 1, 0),
        ]));
        app.update(Event::History {
            room: RoomId(1),
            messages: (1..=30)
                .map(|s| message(1, s, &bob(), &format!("note {s}")))
                .collect(),
            complete: true,
        });
        let long = "a very long message that cannot possibly fit on the status line of 80 columns";
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: message(2, 2, &bob(), long),
            unread: Some(1),
            mention: false,
            muted: false,
        }));
        for _ in 0..4 {
            app.update(Event::Key(Key::PageUp));
        }
        let screen = screen(&app, 80, 24);
        let text = screen.join("\n");
        assert!(screen[1].contains("start of the conversation"), "{text}");
        assert!(screen[2].contains("bob: note 1 "), "{text}");
        assert!(screen[17].contains("bob: note 16 "), "{text}");
        assert!(screen[18].contains("newer below: End"), "{text}");
        assert!(screen[22].ends_with('…'), "{text}");
        assert!(screen[22].starts_with("● Connected as alice │ bob in Ops: a very"));
    }

    #[test]
    fn a_tiny_terminal_does_not_panic() {
        let app = app_with_rooms();
        for (w, h) in [(20, 6), (40, 10), (1, 1)] {
            let _ = screen(&app, w, h);
        }
    }

    #[test]
    fn wrapping_and_fitting() {
        assert_eq!(wrap("a bb ccc", 4, 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3, 5), ["abc", "defgh"]);
        assert_eq!(wrap("x\ny", 10, 10), ["x", "y"]);
        assert_eq!(wrap("", 10, 10), [""]);
        assert_eq!(fit("Engineering", 6), "Engin…");
        assert_eq!(fit("Ops", 6), "Ops");
        assert_eq!(tail("hello world", 5), "world");
    }

    #[test]
    fn times_are_local_and_short() {
        let now = Local::now();
        let today = now.to_rfc3339();
        assert_eq!(short_time(&today, now), now.format("%H:%M").to_string());
        assert_eq!(short_time("garbage", now), "--:--");
        assert!(short_time("2001-02-03T04:05:06Z", now).len() > 5);
    }
}
