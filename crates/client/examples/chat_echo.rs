//! A terminal chat: prints a room's messages as they arrive and sends every line typed.
//!
//! ```text
//! SOTONG_TOKEN=<token> cargo run -p sotong-client --example chat_echo -- <room id>
//! ```
//!
//! `SOTONG_URL` defaults to `ws://127.0.0.1:8080/ws`. A token is what `POST /api/login` answers
//! (or an application JWT). Your own lines come back on the room like everyone else's, with
//! their `seq`. Stop the server and start it again: the chat carries on where it was, and
//! lines typed meanwhile are sent once it is back. Set `RUST_LOG=sotong_client=debug` to
//! watch the connection.
#![allow(clippy::print_stdout)] // An example program talks to its user on stdout.

use futures_util::StreamExt;
use sotong_client::{Client, RoomEvent, RoomId};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sotong_client=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("SOTONG_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let token = std::env::var("SOTONG_TOKEN").map_err(|_| "set SOTONG_TOKEN to a token")?;
    let room: RoomId = std::env::args()
        .nth(1)
        .ok_or("usage: chat_echo <room id>")?
        .parse()?;

    let client = Client::connect(url, token).await?;
    let mut messages = client.room(room).subscribe().await?;
    println!("in room {room}; type a line and press Enter (Ctrl-D quits)");

    let printer = tokio::spawn(async move {
        while let Some(event) = messages.next().await {
            match event {
                Ok(RoomEvent::Message(message)) => println!(
                    "#{} {}: {}",
                    message.seq, message.sender.display_name, message.text
                ),
                Ok(RoomEvent::Typing { user, .. }) => println!("({} is typing)", user.display_name),
                Ok(_) => {}
                Err(err) => {
                    eprintln!("the room's stream ended: {err}");
                    break;
                }
            }
        }
    });
    let mut state = client.state();
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            let now = *state.borrow();
            eprintln!("[{now:?}]");
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        if let Err(err) = client.send(room, line).await {
            eprintln!("not sent: {err}");
        }
    }
    client.close().await;
    printer.await?;
    Ok(())
}
