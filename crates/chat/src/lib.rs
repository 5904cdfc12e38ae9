//! # sotong-chat
//!
//! `sotong chat`: a terminal chat client on the [`sotong_client`] SDK, usable over SSH.
//! A room list with unread counts on the left, the open room's messages on the right, a
//! composer line, and a status line with the connection state and the latest message from
//! another room.
//!
//! Keys: Tab / Shift-Tab, ↑ / ↓ or Ctrl-N / Ctrl-P switch rooms; Enter sends; PageUp /
//! PageDown scroll (PageUp loads older history), End jumps to the newest; Ctrl-D starts a
//! direct chat (asks for a username); Ctrl-U clears the line; Esc or Ctrl-C quits.
//!
//! Commands act on the open room's message by its number (shown before it): `/reply N text`,
//! `/edit N text`, `/delete N`, `/react N 👍` (again to take it back), `/help`.
//!
//! # Layout
//!
//! - `app.rs`: [`App`](app::App), the whole state, and `update(event) -> effects`: routing by
//!   visibility, unread counts, pending sends, history. Pure, unit-tested.
//! - `ui.rs`: [`render`](ui::render) draws an `App`; tested on ratatui's `TestBackend`.
//! - `session.rs`: [`Session`](session::Session) signs in, connects through the SDK, carries
//!   out effects and reports back as events; [`step`](session::step) joins it to an `App`.
//! - `terminal.rs`: the terminal's raw mode and alternate screen, restored on exit and on
//!   panic, and the draw / wait / step loop.

pub mod app;
pub mod session;
mod terminal;
pub mod ui;

use anyhow::Context;
use clap::Args;
use session::{Credentials, Endpoint};
use std::io::{BufRead, IsTerminal, Write};

/// `sotong chat`: chat in the terminal.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// The server's address; the WebSocket is its /ws.
    #[arg(long, env = "SOTONG_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Sign in as this user (asked for when neither it nor --token is given).
    #[arg(long, short = 'u', env = "SOTONG_USERNAME")]
    pub username: Option<String>,
    /// The password (asked for, without echo, when not given).
    #[arg(long, env = "SOTONG_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A session token or a JWT from your application, instead of a username and password.
    #[arg(
        long,
        env = "SOTONG_TOKEN",
        hide_env_values = true,
        conflicts_with = "username"
    )]
    pub token: Option<String>,
}

/// Runs the chat until the person quits; the terminal is restored however it ends.
///
/// The chat runs on a thread of its own with a single-threaded runtime, and nothing logged on
/// that thread reaches the process's tracing subscriber: log lines (the SDK's "reconnecting"
/// for one) would otherwise be written over the screen.
///
/// # Errors
/// When signing in or connecting fails (before the screen is taken over), or the terminal
/// cannot be used.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sotong-chat".into())
        .spawn(move || {
            let _quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let _ = done.send(chat_thread(args));
        })
        .context("starting the chat thread")?;
    finished
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the chat stopped unexpectedly")))
}

fn chat_thread(args: ChatArgs) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_server(&args.server)?;
    let credentials = credentials(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the chat's runtime")?;
    runtime.block_on(terminal::chat(endpoint, credentials))
}

/// The credentials from the flags, asking on the terminal for what is missing.
fn credentials(args: ChatArgs) -> anyhow::Result<Credentials> {
    if let Some(token) = args.token {
        return Ok(Credentials::Token(token));
    }
    let username = match args.username {
        Some(username) => username,
        None => ask("Username: ")?,
    };
    let password = match args.password {
        Some(password) => password,
        None => rpassword::prompt_password(format!("Password for {username}: "))
            .context("reading the password (or pass --password / SOTONG_PASSWORD)")?,
    };
    Ok(Credentials::Password { username, password })
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to ask on: pass --username or --token"
    );
    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let answer = line.trim().to_string();
    anyhow::ensure!(!answer.is_empty(), "no username given");
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        chat: ChatArgs,
    }

    #[test]
    fn flags_give_credentials_without_asking() {
        let cli = Cli::try_parse_from(["chat", "--username", "alice", "--password", "pw123456"])
            .expect("parses");
        assert_eq!(cli.chat.server, "http://127.0.0.1:8080");
        assert!(matches!(
            credentials(cli.chat).unwrap(),
            Credentials::Password { username, password } if username == "alice" && password == "pw123456"
        ));
        let cli = Cli::try_parse_from(["chat", "--server", "http://h:1", "--token", "t"]).unwrap();
        assert!(matches!(credentials(cli.chat).unwrap(), Credentials::Token(t) if t == "t"));
        assert!(Cli::try_parse_from(["chat", "--username", "a", "--token", "t"]).is_err());
    }
}
