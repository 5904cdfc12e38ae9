//! Prints what happens in all of a user's rooms: new messages with their unread counts, rooms
//! joined, read marks from other devices. Shows signing in with a password and a token
//! provider that signs in again when the session token is refused.
//!
//! ```text
//! SOTONG_USERNAME=alice SOTONG_PASSWORD=<password> \
//!     cargo run -p sotong-client --example notifications
//! ```
//!
//! `SOTONG_URL` defaults to `ws://127.0.0.1:8080/ws`; the HTTP API is found next to it.
//! Post in one of the user's rooms from another client (or `chat_echo` as someone else) to
//! see a notification. A room this client subscribed to would deliver its messages on the
//! room's stream instead, never both.
#![allow(clippy::print_stdout)] // An example program talks to its user on stdout.

use futures_util::StreamExt;
use sotong_client::{BoxError, Client, Notification};

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
    let username = std::env::var("SOTONG_USERNAME").map_err(|_| "set SOTONG_USERNAME")?;
    let password = std::env::var("SOTONG_PASSWORD").map_err(|_| "set SOTONG_PASSWORD")?;
    let base = url
        .replacen("ws://", "http://", 1)
        .trim_end_matches("/ws")
        .to_string();

    let login = Client::login(&base, &username, &password).await?;
    println!("signed in as {}", login.user.display_name);
    let provider = {
        let (base, username, password) = (base.clone(), username.clone(), password.clone());
        move || {
            let (base, username, password) = (base.clone(), username.clone(), password.clone());
            async move {
                let login = Client::login(&base, &username, &password).await?;
                Ok::<_, BoxError>(login.token)
            }
        }
    };
    let client = Client::builder(url, login.token)
        .token_provider(provider)
        .connect()
        .await?;

    let rooms = client.rooms().await?;
    let unread: u64 = rooms.iter().map(|room| room.unread).sum();
    println!("{} rooms, {unread} unread; waiting for events", rooms.len());

    let mut events = client.notifications().await?;
    while let Some(event) = events.next().await {
        match event? {
            Notification::Message {
                room_id,
                message,
                unread,
                ..
            } => {
                // No count: the room was subscribed as the message came, so the server did
                // not count it for this client.
                let unread = unread.map_or("?".to_string(), |n| n.to_string());
                println!(
                    "room {room_id} ({unread} unread) {}: {}",
                    message.sender.display_name, message.text
                )
            }
            Notification::Room(room) => {
                println!("room {} \"{}\": you are in it", room.id, room.name)
            }
            Notification::Read { room_id, seq } => {
                println!("room {room_id} read up to #{seq} on another device")
            }
            _ => {}
        }
    }
    Ok(())
}
