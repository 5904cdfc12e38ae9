//! The connection side of the chat, on the SDK: [`Session::connect`] signs in and opens the
//! one STOMP connection; [`Session::apply`] carries out an [`Effect`] and reports back through
//! the [`Event`] channel; [`step`] ties the two to an [`App`]. The terminal loop and the
//! integration test drive the chat through exactly these calls.
//!
//! Nothing here waits in the caller: every request runs in its own task, so the screen keeps
//! answering keys while the server is slow or the connection is being restored.
//! - The open room has one task: subscribe (which anchors at the room's latest `seq`), load
//!   the newest page, then forward the topic. Replacing the task drops the subscription, which
//!   unsubscribes; the SDK restores a held subscription with `since-seq` after a reconnect.
//! - Sends and read marks go through one queue, one at a time, so they reach the server in
//!   the order they were made (the SDK keeps queued requests in order across reconnects).
//!   A send reports its `client-msg-id` ([`Event::Sending`]) before it starts, so the app
//!   knows it before the stored copy can arrive: both reports go through the one event
//!   channel, and the copy exists only once the send has reached the server.

use crate::app::{App, Effect, Event, PAGE_SIZE};
use anyhow::Context;
use futures_util::StreamExt;
use sotong_client::{BoxError, Client, Error, HistoryQuery, RoomEvent, RoomId, Seq, State, User};
use std::ops::ControlFlow;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How to sign in.
#[derive(Clone)]
pub enum Credentials {
    /// `POST /api/login`; the same credentials sign in again when the session token expires.
    Password {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// A session token from `/api/login`, or a JWT signed by the application backend.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs and error reports.
        match self {
            Credentials::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .finish_non_exhaustive(),
            Credentials::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// Where the server is: its HTTP base and its WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` (with any path prefix), for `/api/*`.
    pub http: String,
    /// `ws://host:port/ws`.
    pub ws: String,
}

impl Endpoint {
    /// Derives both URLs from the server's address: `http://h:p` gives `ws://h:p/ws`
    /// (`https` gives `wss`), a bare `h:p` means `http://h:p`, and a `ws://…/ws` URL is
    /// taken as it is.
    ///
    /// # Errors
    /// When `server` has another scheme, or no host.
    pub fn from_server(server: &str) -> anyhow::Result<Self> {
        let server = server.trim();
        let (http_scheme, ws_scheme, rest) = if let Some(rest) = server.strip_prefix("http://") {
            ("http://", "ws://", rest)
        } else if let Some(rest) = server.strip_prefix("https://") {
            ("https://", "wss://", rest)
        } else if let Some(rest) = server.strip_prefix("ws://") {
            (
                "http://",
                "ws://",
                rest.trim_end_matches('/').trim_end_matches("/ws"),
            )
        } else if let Some(rest) = server.strip_prefix("wss://") {
            (
                "https://",
                "wss://",
                rest.trim_end_matches('/').trim_end_matches("/ws"),
            )
        } else if server.contains("://") {
            anyhow::bail!("{server}: expected an http:// address such as http://127.0.0.1:8080");
        } else {
            ("http://", "ws://", server)
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.starts_with('/') {
            anyhow::bail!("{server}: no host");
        }
        Ok(Endpoint {
            http: format!("{http_scheme}{rest}"),
            ws: format!("{ws_scheme}{rest}/ws"),
        })
    }
}

/// A request that must reach the server in order.
#[derive(Debug)]
enum Outgoing {
    Send {
        room: RoomId,
        local: u64,
        text: String,
        reply_to: Option<Seq>,
    },
    /// An edit, delete or reaction: after the sends queued before it (so a message can be
    /// edited right after it was typed).
    Change(Effect),
    MarkRead {
        room: RoomId,
        seq: Seq,
    },
}

/// A task that is cancelled when this handle is dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A signed-in connection, carrying out an [`App`]'s effects.
#[derive(Debug)]
pub struct Session {
    client: Client,
    events: mpsc::UnboundedSender<Event>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// The open room's task; replacing it unsubscribes from the previous room.
    room: Option<Task>,
    /// Connection state, notifications and the outbox; they end with the session.
    background: Vec<Task>,
}

impl Session {
    /// Signs in, connects, and starts reporting connection states and notifications on
    /// `events`. Returns the session and the signed-in user.
    ///
    /// # Errors
    /// When the credentials are refused or the server cannot be reached.
    pub async fn connect(
        endpoint: &Endpoint,
        credentials: Credentials,
        events: mpsc::UnboundedSender<Event>,
    ) -> anyhow::Result<(Session, User)> {
        let (client, me) = match credentials {
            Credentials::Password { username, password } => {
                let login = Client::login(&endpoint.http, &username, &password)
                    .await
                    .context("signing in")?;
                let base = endpoint.http.clone();
                // Session tokens expire; signing in again is how this client gets a new one.
                let provider = move || {
                    let (base, username, password) =
                        (base.clone(), username.clone(), password.clone());
                    async move {
                        Client::login(&base, &username, &password)
                            .await
                            .map(|login| login.token)
                            .map_err(|err| Box::new(err) as BoxError)
                    }
                };
                let client = Client::builder(&endpoint.ws, login.token)
                    .http_base(&endpoint.http)
                    .token_provider(provider)
                    .connect()
                    .await
                    .context("connecting")?;
                (client, login.user)
            }
            Credentials::Token(token) => {
                let client = Client::builder(&endpoint.ws, token)
                    .http_base(&endpoint.http)
                    .connect()
                    .await
                    .context("connecting")?;
                let me = client.me().await.context("reading the signed-in user")?;
                (client, me)
            }
        };
        let notifications = client
            .notifications()
            .await
            .context("subscribing to notifications")?;

        let mut background = Vec::new();
        let mut state = client.state();
        let tx = events.clone();
        background.push(Task(tokio::spawn(async move {
            loop {
                let now = *state.borrow_and_update();
                if tx.send(Event::Connection(now)).is_err() {
                    return;
                }
                if state.changed().await.is_err() {
                    let _ = tx.send(Event::Connection(State::Closed));
                    return;
                }
            }
        })));
        let tx = events.clone();
        background.push(Task(tokio::spawn(async move {
            let mut notifications = notifications;
            while let Some(item) = notifications.next().await {
                let event = match item {
                    Ok(notification) => Event::Notification(notification),
                    Err(err) => Event::Failed(format!("Notifications stopped: {}", describe(&err))),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        })));
        let (outbox, queue) = mpsc::unbounded_channel();
        background.push(Task(tokio::spawn(deliver(
            client.clone(),
            queue,
            events.clone(),
        ))));
        let session = Session {
            client,
            events,
            outbox,
            room: None,
            background,
        };
        Ok((session, me))
    }

    /// The SDK client behind this session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts carrying out `effect`; its outcome comes back as an [`Event`].
    /// [`Effect::Quit`] is the caller's to act on and is ignored here.
    pub fn apply(&mut self, effect: Effect) {
        let client = self.client.clone();
        let events = self.events.clone();
        match effect {
            Effect::LoadRooms => {
                tokio::spawn(async move {
                    let event = match client.rooms().await {
                        Ok(rooms) => Event::Rooms(rooms),
                        Err(err) => Event::Failed(format!("Cannot load rooms: {}", describe(&err))),
                    };
                    let _ = events.send(event);
                });
            }
            Effect::Open(room) => {
                // Abort the old room's task. Its subscription is dropped when the aborted future
                // is, which may be after the new one is taken; the SDK routes either way, and
                // the new room's history page covers anything from before its subscription.
                self.room = None;
                self.room = Some(Task(tokio::spawn(follow_room(client, room, events))));
            }
            Effect::LoadOlder { room, before } => {
                tokio::spawn(async move {
                    let query = HistoryQuery {
                        before: Some(before),
                        after: None,
                        limit: Some(PAGE_SIZE),
                    };
                    let event = match client.room(room).history(query).await {
                        Ok(messages) => history_event(room, messages),
                        Err(err) => {
                            Event::Failed(format!("Cannot load older messages: {}", describe(&err)))
                        }
                    };
                    let _ = events.send(event);
                });
            }
            Effect::Send { room, local, text } => {
                let _ = self.outbox.send(Outgoing::Send {
                    room,
                    local,
                    text,
                    reply_to: None,
                });
            }
            Effect::Reply {
                room,
                local,
                reply_to,
                text,
            } => {
                let _ = self.outbox.send(Outgoing::Send {
                    room,
                    local,
                    text,
                    reply_to: Some(reply_to),
                });
            }
            change @ (Effect::Edit { .. } | Effect::Delete { .. } | Effect::React { .. }) => {
                let _ = self.outbox.send(Outgoing::Change(change));
            }
            Effect::MarkRead { room, seq } => {
                let _ = self.outbox.send(Outgoing::MarkRead { room, seq });
            }
            Effect::DirectRoom { username } => {
                tokio::spawn(async move {
                    let result = client.direct_room(&username).await.map_err(|err| {
                        if err.code() == Some("not_found") {
                            format!("No user named {username}")
                        } else {
                            format!("Cannot open a chat with {username}: {}", describe(&err))
                        }
                    });
                    let _ = events.send(Event::DirectRoom(result));
                });
            }
            Effect::Quit => {}
        }
    }

    /// Disconnects: waits briefly for the server to acknowledge, then stops every task.
    pub async fn close(mut self) {
        self.room = None;
        self.client.close().await;
        self.background.clear();
    }
}

/// Feeds `event` to `app` and carries out the effects; `Break` when the person quit.
pub fn step(app: &mut App, session: &mut Session, event: Event) -> ControlFlow<()> {
    let mut flow = ControlFlow::Continue(());
    for effect in app.update(event) {
        if effect == Effect::Quit {
            flow = ControlFlow::Break(());
        } else {
            session.apply(effect);
        }
    }
    flow
}

/// The open room: subscribe, load the newest page, then forward the topic until dropped.
async fn follow_room(client: Client, room: RoomId, events: mpsc::UnboundedSender<Event>) {
    let handle = client.room(room);
    // Subscribing first means nothing falls between the page and the live stream; what is
    // in both is dropped by seq in the App.
    let mut subscription = match handle.subscribe().await {
        Ok(subscription) => subscription,
        Err(err) => {
            let _ = events.send(Event::Failed(format!(
                "Cannot open the room: {}",
                describe(&err)
            )));
            return;
        }
    };
    let query = HistoryQuery {
        limit: Some(PAGE_SIZE),
        ..HistoryQuery::default()
    };
    let event = match handle.history(query).await {
        Ok(messages) => history_event(room, messages),
        Err(err) => Event::Failed(format!("Cannot load messages: {}", describe(&err))),
    };
    if events.send(event).is_err() {
        return;
    }
    while let Some(item) = subscription.next().await {
        let event = match item {
            Ok(RoomEvent::Message(message)) => Event::RoomMessage(message),
            Ok(RoomEvent::Changed { message, .. }) => Event::RoomChanged(message),
            // Typing indicators and future event types are not shown.
            Ok(_) => continue,
            Err(err) => Event::Failed(format!("The room stopped updating: {}", describe(&err))),
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

fn history_event(room: RoomId, messages: Vec<sotong_client::Message>) -> Event {
    // A short page, or one that reaches seq 1, is the start of the room.
    let complete =
        messages.len() < PAGE_SIZE as usize || messages.first().is_some_and(|m| m.seq == Seq(1));
    Event::History {
        room,
        messages,
        complete,
    }
}

/// Sends and read marks, one at a time, in the order they were made.
async fn deliver(
    client: Client,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(outgoing) = queue.recv().await {
        let event = match outgoing {
            Outgoing::Send {
                room,
                local,
                text,
                reply_to,
            } => {
                // Nothing is sent before the first poll below.
                let pending = match reply_to {
                    Some(seq) => client.send_reply(room, seq, text),
                    None => client.send(room, text),
                };
                let sending = Event::Sending {
                    local,
                    client_msg_id: pending.client_msg_id().to_string(),
                };
                if events.send(sending).is_err() {
                    return;
                }
                let result = pending.await.map_err(|err| describe(&err));
                Event::Sent {
                    local,
                    result,
                    at: chrono::Local::now().to_rfc3339(),
                }
            }
            Outgoing::Change(change) => {
                let (what, result) = match change {
                    Effect::Edit { room, seq, text } => {
                        ("edit", client.edit_message(room, seq, text).await)
                    }
                    Effect::Delete { room, seq } => {
                        ("delete", client.delete_message(room, seq).await)
                    }
                    Effect::React {
                        room,
                        seq,
                        emoji,
                        add,
                    } => ("react", client.react(room, seq, &emoji, add).await),
                    _ => continue,
                };
                match result {
                    // The room's stream brings the same change; the newer rev wins either way.
                    Ok(message) => Event::RoomChanged(message),
                    Err(err) => Event::Failed(format!("Cannot {what}: {}", describe(&err))),
                }
            }
            Outgoing::MarkRead { room, seq } => match client.mark_read(room, seq).await {
                Ok(()) => continue,
                Err(err) => Event::Failed(format!("Cannot mark read: {}", describe(&err))),
            },
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// A short text for the status line.
fn describe(err: &Error) -> String {
    match err {
        Error::Refused { code, message } if message.is_empty() => code.clone(),
        Error::Refused { code, message } => format!("{message} ({code})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_server_address() {
        let local = Endpoint::from_server("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.http, "http://127.0.0.1:8080");
        assert_eq!(local.ws, "ws://127.0.0.1:8080/ws");
        assert_eq!(
            Endpoint::from_server("127.0.0.1:9000/").unwrap().ws,
            "ws://127.0.0.1:9000/ws"
        );
        let tls = Endpoint::from_server("https://chat.example/sotong").unwrap();
        assert_eq!(tls.ws, "wss://chat.example/sotong/ws");
        assert_eq!(tls.http, "https://chat.example/sotong");
        let ws = Endpoint::from_server("ws://h:1/ws").unwrap();
        assert_eq!(
            (ws.http.as_str(), ws.ws.as_str()),
            ("http://h:1", "ws://h:1/ws")
        );
        assert!(Endpoint::from_server("ftp://h").is_err());
        assert!(Endpoint::from_server("http://").is_err());
    }

    #[test]
    fn credentials_never_print_secrets() {
        let password = Credentials::Password {
            username: "alice".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{password:?}").contains("hunter22"));
        assert!(!format!("{:?}", Credentials::Token("s3cret".into())).contains("s3cret"));
    }

    #[test]
    fn refusals_read_well() {
        let err = Error::Refused {
            code: "rate_limited".into(),
            message: "slow down".into(),
        };
        assert_eq!(describe(&err), "slow down (rate_limited)");
    }
}
