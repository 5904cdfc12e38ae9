//! The public handles: [`Client`] (cheap to clone, one connection behind all clones),
//! [`ClientBuilder`] for its settings, and [`RoomHandle`] for one room.
//!
//! Handles never touch the socket. Each call becomes a [`Command`] to the connection task and
//! waits for its answer on a one-shot channel.

use crate::connection::{self, Command, Reply, Request, Settings, Shared, State, SubscribeAnswer};
use crate::error::{Error, Result};
use crate::http::{self, Download, HistoryQuery, Http, Login, UploadBody};
use crate::model::{
    Activity, Attachment, AttachmentId, Message, Notification, Room, RoomEvent, RoomId, Sent, Seq,
    User, UserId, UserPresence,
};
use crate::subscription::Subscription;
use crate::token::{check_token, Auth, TokenProvider};
use reqwest::Method;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Room for the headers of a `SEND` frame next to its body, when checking the frame size.
const FRAME_OVERHEAD: usize = 1024;
/// The longest `client-msg-id` the server takes, in bytes (`docs/protocol.md`).
const MAX_CLIENT_MSG_ID: usize = 128;

/// A connection to a sotong server, shared by every clone.
///
/// One background task owns the WebSocket: it subscribes on behalf of every
/// [`Subscription`], reconnects with backoff when the connection drops, restores every
/// subscription with `since-seq` (so no message is lost or doubled), and then re-sends the
/// requests that had no receipt yet. The handle only sends it commands.
///
/// The task ends when [`Client::close`] is called, when the token cannot be renewed
/// ([`Error::Auth`]), or when every `Client` clone and every `Subscription` is dropped.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use sotong_client::{Client, RoomEvent, RoomId};
///
/// # async fn demo() -> sotong_client::Result<()> {
/// let client = Client::connect("ws://127.0.0.1:8080/ws", "a token").await?;
/// let mut room = client.room(RoomId(1)).subscribe().await?;
/// let sent = client.send(RoomId(1), "hello").await?;
/// println!("stored as seq {}", sent.seq);
/// while let Some(event) = room.next().await {
///     if let RoomEvent::Message(message) = event? {
///         println!("{}: {}", message.sender.username, message.text);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<State>,
    shared: Arc<Shared>,
    http: Http,
    max_frame_bytes: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Client`], from [`Client::builder`].
pub struct ClientBuilder {
    url: String,
    token: String,
    provider: Option<Arc<dyn TokenProvider>>,
    http_base: Option<String>,
    heartbeat: Duration,
    connect_timeout: Duration,
    reconnect_min: Duration,
    reconnect_max: Duration,
    subscriber_buffer: usize,
    max_frame_bytes: usize,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("provider", &self.provider.is_some())
            .field("http_base", &self.http_base)
            .field("heartbeat", &self.heartbeat)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("subscriber_buffer", &self.subscriber_buffer)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Calls `provider` for a new token when the server says the current one expired or is
    /// invalid (`ERROR token_expired` / `unauthorized`, HTTP `401`), then reconnects with it.
    /// Without a provider such an error ends the client with [`Error::Auth`].
    pub fn token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// The base of the HTTP API (`http://host:port`). By default it is derived from the
    /// WebSocket URL: `ws://host:port/ws` gives `http://host:port`.
    pub fn http_base(mut self, base: impl Into<String>) -> Self {
        self.http_base = Some(base.into());
        self
    }

    /// The heart-beat interval to ask for, both ways (default 10 s; zero asks for none).
    /// A server silent for twice the agreed interval counts as gone, and the client reconnects.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long opening the socket and `CONNECT` may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The reconnect backoff: the delay before retry `n` is uniform in
    /// `[0, min(max, min · 2ⁿ)]` (default 250 ms and 30 s).
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max;
        self
    }

    /// Events buffered per subscriber (default 1024). A subscriber that falls further behind
    /// is dropped with [`Error::Lagged`]; the connection never waits for it.
    pub fn subscriber_buffer(mut self, events: usize) -> Self {
        self.subscriber_buffer = events.max(1);
        self
    }

    /// The server's frame size limit (default 64 KiB, sotong's default). A message that would
    /// not fit is refused locally with code `too_large`, because the server would close the
    /// connection for it.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Opens the connection and waits until it is up, with the notification and error queues
    /// subscribed.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a URL that is not `ws://…`, [`Error::Auth`] when the token is
    /// refused (and no provider could replace it), [`Error::Transport`] when the server cannot
    /// be reached, [`Error::Refused`] when it answers `CONNECT` with another `ERROR`. Only this
    /// first connection fails fast; later drops are retried.
    pub async fn connect(self) -> Result<Client> {
        let http_base = match self.http_base {
            Some(base) => base.trim_end_matches('/').to_string(),
            None => http::base_from_ws(&self.url)?,
        };
        check_token(&self.token)?;
        let auth = Arc::new(Auth::new(self.token, self.provider));
        let shared = Arc::new(Shared {
            auth: auth.clone(),
            end: OnceLock::new(),
        });
        let settings = Settings {
            url: self.url,
            heartbeat: self.heartbeat,
            connect_timeout: self.connect_timeout,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            subscriber_buffer: self.subscriber_buffer,
        };
        let (commands, state, first) = connection::spawn(settings, shared.clone());
        let client = Client {
            commands,
            state,
            http: Http::new(http_base, auth),
            shared,
            max_frame_bytes: self.max_frame_bytes,
        };
        match first.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(client.shared.end_reason()),
        }
    }
}

impl Client {
    /// Connects to `url` (`ws://host:port/ws`) with `token` and default settings.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn connect(url: impl Into<String>, token: impl Into<String>) -> Result<Client> {
        Client::builder(url, token).connect().await
    }

    /// Settings for a connection to `url` with `token`; finish with [`ClientBuilder::connect`].
    pub fn builder(url: impl Into<String>, token: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            token: token.into(),
            provider: None,
            http_base: None,
            heartbeat: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            subscriber_buffer: 1024,
            max_frame_bytes: 64 * 1024,
        }
    }

    /// Signs in with a username and password over HTTP (`base_url` is `http://host:port`);
    /// the answer's token is what [`Client::connect`] takes.
    ///
    /// # Errors
    /// [`Error::Auth`] for wrong credentials, [`Error::Transport`] when unreachable.
    pub async fn login(base_url: &str, username: &str, password: &str) -> Result<Login> {
        http::login(base_url, username, password).await
    }

    /// A handle for one room: subscribe to it, send to it, read its history.
    pub fn room(&self, id: RoomId) -> RoomHandle {
        RoomHandle {
            client: self.clone(),
            id,
        }
    }

    /// The events of every room of the user that this client does not subscribe to: new
    /// messages (with the unread count), rooms joined or changed, read marks from other
    /// devices.
    ///
    /// Each message of the user's rooms reaches this client on one stream: the room's
    /// [`Subscription`]s while it has some (the room is on screen), this one otherwise; never
    /// both, and never neither:
    /// - when the last subscriber of a room goes, the messages it had not yielded yet and
    ///   those still on their way on the room's topic (the server has not handled the
    ///   `UNSUBSCRIBE` yet) come here, with `unread: None` since the server did not count them
    ///   as notifications; the server's own notifications follow, without repeating any;
    /// - when the room is subscribed again on the same connection, its stream resumes right
    ///   after the last message routed (to either stream), so a message shown here is not on
    ///   the room stream too. The room's history page still has it: that is the room being
    ///   opened.
    ///
    /// Notifications are live only: those sent while the client was reconnecting are not
    /// replayed; after [`State::Connected`] returns, [`Client::rooms`] is the snapshot of
    /// unread counts. [`Notification::Resync`] says the server may have lost events on its
    /// side (between its nodes) while this client stayed connected: do what a reconnect calls
    /// for, reload [`Client::rooms`] and the history of open rooms after their last `seq`.
    ///
    /// # Errors
    /// [`Error::Closed`] (or the reason it ended) when the client has ended.
    pub async fn notifications(&self) -> Result<Subscription<Notification>> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Notifications { reply }).await?;
        answer.await.map_err(|_| self.shared.end_reason())?
    }

    /// Posts `text` to `room`; the returned [`PendingSend`] resolves once the server has
    /// stored it, with its `seq`.
    ///
    /// The message carries a random `client-msg-id`, readable at once with
    /// [`PendingSend::client_msg_id`], so an application can show the message as pending and
    /// replace it when the stored copy (whose [`Message::client_msg_id`] is the same) arrives
    /// on the room's stream, before or after the receipt. If the connection drops before the
    /// receipt, the send waits and is sent again, with the same id, once the connection and
    /// every subscription are restored; the server stores it once whatever happens.
    ///
    /// Like any future it starts when first polled (awaited or spawned). Once the send has
    /// been handed to the connection (which is at once unless its command queue is full),
    /// dropping the future does not cancel it.
    ///
    /// ```no_run
    /// use sotong_client::{Client, RoomId};
    ///
    /// # async fn demo(client: Client) -> sotong_client::Result<()> {
    /// let pending = client.send(RoomId(1), "hello");
    /// let key = pending.client_msg_id().to_owned();
    /// // Show "hello (sending…)" under `key` now; the room's stream brings the stored copy
    /// // with `client_msg_id == Some(key)`, and the receipt says the same:
    /// let sent = pending.await?;
    /// assert_eq!(sent.client_msg_id, key);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Refused`] with the server's code (`forbidden` when not a member, `too_large`,
    /// `rate_limited`, …); [`Error::Closed`] / [`Error::Auth`] when the client ends first.
    pub fn send(&self, room: RoomId, text: impl Into<String>) -> PendingSend {
        self.send_with_id(room, text, new_client_msg_id())
    }

    /// Posts `text` to `room` under a `client-msg-id` the application chose, as
    /// [`Client::send`] does with a random one.
    ///
    /// For an application that keeps its unsent messages across restarts: sending again with
    /// the id it saved stores the message once, however many times it was sent before (a
    /// retry gets the stored message's `seq`). The id has 1–128 bytes and is scoped to the
    /// user and the room; make it unique (a random UUID, for instance).
    ///
    /// ```no_run
    /// use sotong_client::{Client, RoomId};
    ///
    /// # async fn demo(client: Client) -> sotong_client::Result<()> {
    /// // Saved with the draft before the app was closed:
    /// let saved_id = "3f2c9a0e5b7d41e8a6c1d2e3f4a5b6c7";
    /// let sent = client.send_with_id(RoomId(1), "hello", saved_id).await?;
    /// assert_eq!(sent.client_msg_id, saved_id);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::Refused`] with code `invalid` for an empty id or one
    /// longer than 128 bytes, without asking the server.
    pub fn send_with_id(
        &self,
        room: RoomId,
        text: impl Into<String>,
        client_msg_id: impl Into<String>,
    ) -> PendingSend {
        self.post_pending(room, text.into(), client_msg_id.into(), None, Vec::new())
    }

    /// Posts `text` to `room` as a reply to message `reply_to` of the same room, as
    /// [`Client::send`] posts a message: the stored copy carries
    /// [`Message::reply_to`](crate::Message::reply_to), a preview of the answered message.
    ///
    /// ```no_run
    /// use sotong_client::{Client, RoomId, Seq};
    ///
    /// # async fn demo(client: Client) -> sotong_client::Result<()> {
    /// let sent = client.send_reply(RoomId(1), Seq(5), "yes, see you there").await?;
    /// # let _ = sent;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Client::send`], and [`Error::Refused`] with `reply_not_found` (no such message in
    /// the room) or `deleted` (the answered message was deleted).
    pub fn send_reply(&self, room: RoomId, reply_to: Seq, text: impl Into<String>) -> PendingSend {
        self.post_pending(
            room,
            text.into(),
            new_client_msg_id(),
            Some(reply_to),
            Vec::new(),
        )
    }

    /// Uploads a file to `room` (`POST /api/rooms/{id}/attachments`) and returns it as the
    /// server stored it: its type found from its bytes, an image re-encoded (with its size).
    /// Send it with [`Client::send_with_attachments`] within the server's upload TTL (an hour
    /// by default). `body` may be bytes, a `tokio::fs::File` or a stream ([`UploadBody`]);
    /// a file or stream is sent as it is read.
    ///
    /// # Errors
    /// [`Error::Refused`] with the server's code: `too_large`, `type_mismatch`, `bad_image`,
    /// `image_too_large`, `invalid` (empty file or name), `forbidden`; transport failures.
    pub async fn upload(
        &self,
        room: RoomId,
        name: &str,
        body: impl Into<UploadBody>,
    ) -> Result<Attachment> {
        self.http
            .post_body(
                &format!("/api/rooms/{room}/attachments"),
                &[("name", name)],
                body.into(),
            )
            .await
    }

    /// Downloads an attachment of a room this user is a member of (or its own unsent upload).
    ///
    /// # Errors
    /// [`Error::Refused`] with `forbidden` or `not_found`; transport failures.
    pub async fn download(&self, attachment: AttachmentId) -> Result<Download> {
        self.http
            .download(&format!("/api/attachments/{attachment}"))
            .await
    }

    /// Downloads an image attachment's thumbnail (at most 320×320, JPEG or PNG).
    ///
    /// # Errors
    /// As [`Client::download`]; `not_found` for a file that is not an image.
    pub async fn download_thumbnail(&self, attachment: AttachmentId) -> Result<Download> {
        self.http
            .download(&format!("/api/attachments/{attachment}/thumbnail"))
            .await
    }

    fn post_pending(
        &self,
        room: RoomId,
        text: String,
        client_msg_id: String,
        reply_to: Option<Seq>,
        attachments: Vec<AttachmentId>,
    ) -> PendingSend {
        let client = self.clone();
        let key = client_msg_id.clone();
        PendingSend {
            room,
            client_msg_id,
            answer: Box::pin(
                async move { client.post(room, text, key, reply_to, attachments).await },
            ),
        }
    }

    /// Posts `text` with attachments uploaded before ([`Client::upload`], at most 10, to this
    /// room); the text may then be empty. Otherwise as [`Client::send`].
    ///
    /// # Errors
    /// As [`Client::send`]; [`Error::Refused`] with `invalid_attachment` (not this user's
    /// unsent upload to this room) or `too_large` (more than 10).
    pub fn send_with_attachments(
        &self,
        room: RoomId,
        text: impl Into<String>,
        attachments: &[AttachmentId],
    ) -> PendingSend {
        self.post_pending(
            room,
            text.into(),
            new_client_msg_id(),
            None,
            attachments.to_vec(),
        )
    }
    async fn post(
        &self,
        room: RoomId,
        text: String,
        client_msg_id: String,
        reply_to: Option<Seq>,
        attachments: Vec<AttachmentId>,
    ) -> Result<Sent> {
        if client_msg_id.is_empty() || client_msg_id.len() > MAX_CLIENT_MSG_ID {
            return Err(Error::refused(
                "invalid",
                format!("a client-msg-id has 1 to {MAX_CLIENT_MSG_ID} bytes"),
            ));
        }
        let mut body = serde_json::json!({ "text": text });
        if let Some(seq) = reply_to {
            body["replyTo"] = serde_json::json!(seq);
        }
        if !attachments.is_empty() {
            body["attachments"] = serde_json::json!(attachments);
        }
        let body = body.to_string();
        if body.len() + FRAME_OVERHEAD > self.max_frame_bytes {
            return Err(Error::refused(
                "too_large",
                format!(
                    "the message does not fit in a {} byte frame",
                    self.max_frame_bytes
                ),
            ));
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            destination: format!("/app/rooms/{room}"),
            body,
            client_msg_id: Some(client_msg_id),
        };
        self.command(Command::Send {
            request,
            reply: Reply::Sent(reply),
        })
        .await?;
        answer.await.map_err(|_| self.shared.end_reason())?
    }

    /// Marks `room` read up to `seq` for this user; the user's other connections hear of it.
    /// Queued like a send while reconnecting.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn mark_read(&self, room: RoomId, seq: Seq) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            destination: format!("/app/rooms/{room}/read"),
            body: serde_json::json!({ "seq": seq }).to_string(),
            client_msg_id: None,
        };
        self.command(Command::Send {
            request,
            reply: Reply::Done(reply),
        })
        .await?;
        answer.await.map_err(|_| self.shared.end_reason())?
    }

    /// Edits this user's message `seq` in `room` (STOMP, with a receipt: the answer comes after
    /// the commit) and returns the message as stored now. Queued like a send while
    /// reconnecting; a retry of an edit changes nothing more (the same text again is no new
    /// `rev`). The room's subscribers (and the user's other connections) get a
    /// [`RoomEvent::Changed`](crate::RoomEvent::Changed) or
    /// [`Notification::Changed`].
    ///
    /// # Errors
    /// [`Error::Refused`] with the server's code: `not_author`, `forbidden`, `not_found`,
    /// `deleted`, `invalid`, `too_large`, `edit_window_closed`, `rate_limited`; otherwise as
    /// [`Client::send`], and as [`RoomHandle::history`] for reading the message back.
    pub async fn edit_message(
        &self,
        room: RoomId,
        seq: Seq,
        text: impl Into<String>,
    ) -> Result<Message> {
        let body = serde_json::json!({ "text": text.into() }).to_string();
        self.change_message(room, seq, "edit", body).await
    }

    /// Deletes this user's message `seq` in `room` for everyone and returns the tombstone
    /// (empty `text`, `deleted_at` set, same `seq`). Deleting a tombstone again answers it
    /// unchanged.
    ///
    /// # Errors
    /// As [`Client::edit_message`] (`not_author`, `forbidden`, `not_found`, `rate_limited`).
    pub async fn delete_message(&self, room: RoomId, seq: Seq) -> Result<Message> {
        self.change_message(room, seq, "delete", String::new())
            .await
    }

    /// Adds (`add: true`) or takes back this user's reaction `emoji` to message `seq` of
    /// `room` (STOMP, with a receipt: the answer comes after the commit) and returns the
    /// message as stored now, with its [`reactions`](crate::Message::reactions). Adding one
    /// that is there, or taking back one that is not, changes nothing (no new `rev`), so a
    /// retry is harmless. The room hears of it as a [`RoomEvent::Changed`](crate::RoomEvent)
    /// with [`ChangeKind::Reacted`](crate::ChangeKind::Reacted).
    ///
    /// # Errors
    /// [`Error::Refused`] with the server's code: `forbidden`, `not_found`, `deleted`,
    /// `invalid_emoji`, `too_large` (over 64 bytes, or a 21st distinct emoji), `rate_limited`;
    /// otherwise as [`Client::edit_message`].
    pub async fn react(&self, room: RoomId, seq: Seq, emoji: &str, add: bool) -> Result<Message> {
        let body = serde_json::json!({ "emoji": emoji, "add": add }).to_string();
        self.change_message(room, seq, "react", body).await
    }

    async fn change_message(
        &self,
        room: RoomId,
        seq: Seq,
        action: &str,
        body: String,
    ) -> Result<Message> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            destination: format!("/app/rooms/{room}/messages/{seq}/{action}"),
            body,
            client_msg_id: None,
        };
        self.command(Command::Send {
            request,
            reply: Reply::Done(reply),
        })
        .await?;
        answer.await.map_err(|_| self.shared.end_reason())??;
        // The RECEIPT says the change is committed; the message itself is read back.
        let query = HistoryQuery {
            after: Some(Seq(seq.0.saturating_sub(1))),
            limit: Some(1),
            ..HistoryQuery::default()
        };
        self.room(room)
            .history(query)
            .await?
            .into_iter()
            .find(|message| message.seq == seq)
            .ok_or_else(|| Error::Protocol(format!("message {seq} of room {room} is not there")))
    }

    /// Up to `limit` messages of `room` changed (edited or deleted) after revision `after`,
    /// ascending by `rev`, each in its current state (`GET /api/rooms/{id}/changes`): what an
    /// application that follows a room only through notifications, or was told to resync,
    /// has not seen. Page on with the last `rev` received; compare with
    /// [`Room::last_rev`].
    ///
    /// # Errors
    /// As [`RoomHandle::info`].
    pub async fn changes_after(
        &self,
        room: RoomId,
        after: u64,
        limit: Option<u32>,
    ) -> Result<Vec<Message>> {
        let mut path = format!("/api/rooms/{room}/changes?after={after}");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        self.http.get(&path).await
    }

    /// Watches the presence of `users` (sotong): the stream yields the state of each of them
    /// that shares a room with this user (the others are left out by the server), then every
    /// change. The list replaces the one watched before (one list per client); it is sent again
    /// after every reconnect, and the answer to it arrives again then. Dropping the last stream
    /// stops nothing on the server until the next reconnect (the watch list stays).
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// use sotong_client::{Client, UserId};
    ///
    /// # async fn demo(client: Client) -> sotong_client::Result<()> {
    /// let mut presence = client.watch_presence(&[UserId(2), UserId(3)]).await?;
    /// while let Some(user) = presence.next().await {
    ///     let user = user?;
    ///     println!("{}: {:?} (last seen {:?})", user.user_id, user.state, user.last_seen_at);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`] (or the reason it ended) when the client has ended.
    pub async fn watch_presence(&self, users: &[UserId]) -> Result<Subscription<UserPresence>> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::WatchPresence {
            users: users.to_vec(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| self.shared.end_reason())?
    }

    /// Reports this connection's activity (sotong): [`Activity::Away`] when nobody uses the
    /// application, [`Activity::Active`] when someone does again. Best effort, like typing.
    ///
    /// # Errors
    /// [`Error::Closed`] when the client has ended.
    pub async fn report_activity(&self, activity: Activity) -> Result<()> {
        self.command(Command::Activity { activity }).await
    }

    /// Tells the room's viewers this user is typing. Best effort: not acknowledged, and
    /// dropped while the client is reconnecting.
    ///
    /// # Errors
    /// [`Error::Closed`] when the client has ended.
    pub async fn typing(&self, room: RoomId) -> Result<()> {
        self.command(Command::Typing { room }).await
    }

    /// The connection state, as a `watch` receiver that has seen the current state:
    /// `borrow()` reads it, `changed().await` waits for the next change, `wait_for(..)` for a
    /// given state. Quick flips (`Reconnecting` → `Connected`) may reach a slow reader only as
    /// their latest value.
    pub fn state(&self) -> watch::Receiver<State> {
        let mut state = self.state.clone();
        state.mark_unchanged();
        state
    }

    /// Sends `DISCONNECT`, waits (briefly) for the server's receipt, and ends the client:
    /// every subscription ends with [`Error::Closed`], and so does every request still waiting
    /// (await your sends first). Closing a closed client does nothing.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// The signed-in user (`GET /api/me`).
    ///
    /// # Errors
    /// [`Error::Auth`], [`Error::Transport`], or [`Error::Refused`] from the HTTP answer.
    pub async fn me(&self) -> Result<User> {
        self.http.get("/api/me").await
    }

    /// The user's rooms, latest activity first, with unread counts (`GET /api/rooms`).
    ///
    /// # Errors
    /// As [`Client::me`].
    pub async fn rooms(&self) -> Result<Vec<Room>> {
        self.http.get("/api/rooms").await
    }

    /// The direct room with `username`, created on first use (`POST /api/rooms/direct`).
    ///
    /// # Errors
    /// As [`Client::me`]; `not_found` for an unknown user.
    pub async fn direct_room(&self, username: &str) -> Result<Room> {
        let body = serde_json::json!({ "username": username });
        self.http
            .call(Method::POST, "/api/rooms/direct", Some(&body))
            .await
    }

    /// Creates a group named `name` with the caller and `members` (`POST /api/rooms`).
    ///
    /// # Errors
    /// As [`Client::me`]; `invalid` or `not_found` for bad names.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> Result<Room> {
        let body = serde_json::json!({ "name": name, "members": members });
        self.http
            .call(Method::POST, "/api/rooms", Some(&body))
            .await
    }

    /// Renames group `room` (`PATCH /api/rooms/{id}`) and returns it; every member hears of it
    /// as a [`Notification::Room`] with the new name.
    ///
    /// # Errors
    /// As [`Client::me`]; [`Error::Refused`] with `invalid` (a bad name, or a direct room),
    /// `forbidden` (not a member), `not_found`, `rate_limited`.
    pub async fn rename_group(&self, room: RoomId, name: &str) -> Result<Room> {
        let body = serde_json::json!({ "name": name });
        self.http
            .call(Method::PATCH, &format!("/api/rooms/{room}"), Some(&body))
            .await
    }

    /// Sets this user's display name (`PATCH /api/me`) and returns the user; everyone who
    /// shares a room with it hears of it as a [`Notification::User`].
    ///
    /// # Errors
    /// As [`Client::me`]; [`Error::Refused`] with `invalid` for a bad name.
    pub async fn set_display_name(&self, display_name: &str) -> Result<User> {
        let body = serde_json::json!({ "displayName": display_name });
        self.http.call(Method::PATCH, "/api/me", Some(&body)).await
    }

    /// Changes this user's password (`POST /api/me/password`). The session this client uses
    /// stays signed in; every other session of the user ends, its sockets closed.
    ///
    /// # Errors
    /// As [`Client::me`]; [`Error::Refused`] with `wrong_password`, `invalid` (a new password
    /// under 8 characters), `no_password` (an account from application JWTs), `rate_limited`.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = serde_json::json!({ "currentPassword": current, "newPassword": new });
        self.http
            .call(Method::POST, "/api/me/password", Some(&body))
            .await
    }

    /// Logs this user out everywhere (`POST /api/logout/all`): every session token stops
    /// working, this client's included, and every socket of the user closes on every node
    /// (this client's connection ends with [`Error::Auth`]). Application JWTs issued before
    /// the call are refused from then on.
    ///
    /// # Errors
    /// As [`Client::me`].
    pub async fn logout_everywhere(&self) -> Result<()> {
        self.http
            .call(Method::POST, "/api/logout/all", None::<&()>)
            .await
    }

    async fn command(&self, command: Command) -> Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| self.shared.end_reason())
    }
}

/// One room, through its [`Client`]. Cheap to create and clone.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    client: Client,
    id: RoomId,
}

impl RoomHandle {
    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// Subscribes to the room's events and resolves once the subscription is live.
    ///
    /// Every message committed after this call starts is on the stream, in `seq` order, each
    /// once, across reconnects too. All subscribers of one room in one client share a single
    /// STOMP subscription; dropping the last one unsubscribes.
    ///
    /// The first subscriber of a room reads the room (`GET /api/rooms/{id}`) to learn its
    /// latest `seq` and subscribes with `since-seq` from there, so the client knows where to
    /// resume even if the connection drops before the first message arrives. A room whose
    /// messages this connection routed lately (it was subscribed a moment ago, or its
    /// notifications came) resumes right after the last one routed instead, without the
    /// read: a message already on [`Client::notifications`] is not on this stream too, and
    /// none falls between the two. While the client is reconnecting the call waits for the
    /// connection.
    ///
    /// # Errors
    /// [`Error::Refused`] (`forbidden`, `not_found`) when the user may not see the room;
    /// [`Error::Transport`] when the HTTP request fails; [`Error::Closed`] / [`Error::Auth`]
    /// when the client ends.
    pub async fn subscribe(&self) -> Result<Subscription<RoomEvent>> {
        if let SubscribeAnswer::Subscribed(subscription) = self.ask(None, None).await? {
            return Ok(subscription);
        }
        let room = self.info().await?;
        let anchor = room.last_message.map_or(Seq(0), |m| m.seq);
        match self.ask(Some(anchor), Some(room.last_rev)).await? {
            SubscribeAnswer::Subscribed(subscription) => Ok(subscription),
            SubscribeAnswer::NeedAnchor => Err(Error::Protocol(
                "the connection task asked for an anchor it was given".into(),
            )),
        }
    }

    async fn ask(&self, anchor: Option<Seq>, anchor_rev: Option<u64>) -> Result<SubscribeAnswer> {
        let (reply, answer) = oneshot::channel();
        self.client
            .command(Command::Subscribe {
                room: self.id,
                anchor,
                anchor_rev,
                reply,
            })
            .await?;
        answer.await.map_err(|_| self.client.shared.end_reason())?
    }

    /// Posts `text`; see [`Client::send`].
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn send(&self, text: impl Into<String>) -> PendingSend {
        self.client.send(self.id, text)
    }

    /// Posts `text` under the application's own `client-msg-id`; see
    /// [`Client::send_with_id`].
    ///
    /// # Errors
    /// As [`Client::send_with_id`].
    pub fn send_with_id(
        &self,
        text: impl Into<String>,
        client_msg_id: impl Into<String>,
    ) -> PendingSend {
        self.client.send_with_id(self.id, text, client_msg_id)
    }

    /// Posts `text` as a reply to message `reply_to` of the room; see [`Client::send_reply`].
    ///
    /// # Errors
    /// As [`Client::send_reply`].
    pub fn send_reply(&self, reply_to: Seq, text: impl Into<String>) -> PendingSend {
        self.client.send_reply(self.id, reply_to, text)
    }

    /// Adds or takes back this user's reaction to message `seq` of the room; see
    /// [`Client::react`].
    ///
    /// # Errors
    /// As [`Client::react`].
    pub async fn react(&self, seq: Seq, emoji: &str, add: bool) -> Result<Message> {
        self.client.react(self.id, seq, emoji, add).await
    }

    /// Marks the room read up to `seq`; see [`Client::mark_read`].
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn mark_read(&self, seq: Seq) -> Result<()> {
        self.client.mark_read(self.id, seq).await
    }

    /// Sends a typing indicator; see [`Client::typing`].
    ///
    /// # Errors
    /// As [`Client::typing`].
    pub async fn typing(&self) -> Result<()> {
        self.client.typing(self.id).await
    }

    /// The room as the user sees it (`GET /api/rooms/{id}`).
    ///
    /// # Errors
    /// As [`Client::me`]; `forbidden` when not a member, `not_found`.
    pub async fn info(&self) -> Result<Room> {
        self.client
            .http
            .get(&format!("/api/rooms/{}", self.id))
            .await
    }

    /// A page of the room's history, ascending by `seq` (`GET /api/rooms/{id}/messages`).
    ///
    /// # Errors
    /// As [`RoomHandle::info`].
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<Message>> {
        self.client
            .http
            .get(&http::history_path(self.id, query))
            .await
    }
}

/// A message on its way to the server, from [`Client::send`] or [`Client::send_with_id`]: a
/// `Future` of the stored message's [`Sent`], whose `client-msg-id` is known before then.
///
/// The id is what lets an application show the message at once and recognise it later: the
/// stored copy on the room's stream carries it ([`Message::client_msg_id`]), and so does the
/// [`Sent`] this resolves with, whichever comes first. Retries after a reconnect keep it.
///
/// Nothing is sent until the future is first polled. Once the send has been handed to the
/// connection (at once, unless its command queue is full), dropping the future does not cancel
/// it (it may already be stored); it only stops waiting for the answer.
#[must_use = "a send starts when it is awaited (or spawned)"]
pub struct PendingSend {
    room: RoomId,
    client_msg_id: String,
    answer: Pin<Box<dyn Future<Output = Result<Sent>> + Send>>,
}

impl PendingSend {
    /// The idempotency key the message is sent with, now and on every retry.
    pub fn client_msg_id(&self) -> &str {
        &self.client_msg_id
    }

    /// The room the message goes to.
    pub fn room(&self) -> RoomId {
        self.room
    }
}

impl Future for PendingSend {
    type Output = Result<Sent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.answer.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for PendingSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text stays out of logs.
        f.debug_struct("PendingSend")
            .field("room", &self.room)
            .field("client_msg_id", &self.client_msg_id)
            .finish_non_exhaustive()
    }
}

/// A fresh idempotency key: 128 random bits as 32 hex digits (as unique as a UUID v4).
fn new_client_msg_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_msg_ids_are_unique_and_well_formed() {
        let a = new_client_msg_id();
        let b = new_client_msg_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[tokio::test]
    async fn bad_urls_and_tokens_fail_before_any_io() {
        let err = Client::connect("http://127.0.0.1:1/ws", "t")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidUrl(_)), "{err:?}");
        let err = Client::connect("ws://127.0.0.1:1/ws", "a\nb")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_the_first_connect() {
        // Port 1 on loopback: nothing listens there.
        let err = Client::builder("ws://127.0.0.1:1/ws", "t")
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Transport(_)), "{err:?}");
    }
}
