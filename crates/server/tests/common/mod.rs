//! Test harness: a real server on an ephemeral port with its own temporary data dir, a real
//! WebSocket STOMP client, and an HTTP client. Nothing is mocked.
#![allow(dead_code, unreachable_pub, missing_docs)]

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sotong_server::config::{Limits, Registration};
use sotong_server::Config;
use sotong_stomp::{encode, Command, Decoder, Frame, Version};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const JWT_SECRET: &str = "integration-test-secret-0123456789";
/// A guard against a test hanging forever; never a stand-in for synchronisation.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<Result<(), sotong_server::ServerError>>>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn spawn() -> TestServer {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(dir, tune).await
    }

    /// Starts a server over an existing data dir (a restart).
    pub async fn spawn_in(dir: tempfile::TempDir, tune: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some(JWT_SECRET.into()),
            web_dir: Some(dir.path().join("no-web-app")),
            // These tests sign up with passwords as well as JWTs.
            registration: Some(Registration::Open),
            limits: Limits {
                send_rate_per_sec: 10_000,
                send_burst: 10_000,
                rooms_per_hour: 10_000,
                members_added_per_hour: 100_000,
                ..Limits::default()
            },
            ..Config::default()
        };
        tune(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sotong_server::run(listener, config, shutdown.clone()));
        let server = TestServer {
            addr,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            dir,
        };
        // The listener is bound before run() is called, so requests queue until it serves.
        let health = server.get("/healthz", None).await;
        assert_eq!(health.0, 200, "server did not become healthy");
        server
    }

    /// Stops the server and waits for it to drain; returns its data dir for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(PATIENCE, task)
                .await
                .expect("drained in time");
            result.expect("task").expect("server result");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// A user signed in with an application JWT (created on first use).
    pub async fn user(&self, username: &str) -> TestUser {
        let token = jwt(username, 3600);
        let (status, me) = self.get("/api/me", Some(&token)).await;
        assert_eq!(status, 200, "{me}");
        TestUser {
            id: me["id"].as_i64().expect("id"),
            username: username.to_string(),
            token,
        }
    }

    /// Like `user`, taking the name by value (for concurrent sign-ups).
    pub async fn user_named(&self, username: String) -> TestUser {
        self.user(&username).await
    }

    /// The direct room of two users.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> i64 {
        let (status, room) = self
            .post(
                "/api/rooms/direct",
                Some(&a.token),
                serde_json::json!({"username": b.username}),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {room}");
        room["id"].as_i64().expect("room id")
    }

    /// A group of `owner` and `members`.
    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> i64 {
        let names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
        let (status, room) = self
            .post(
                "/api/rooms",
                Some(&owner.token),
                serde_json::json!({"name": name, "members": names}),
            )
            .await;
        assert_eq!(status, 201, "{room}");
        room["id"].as_i64().expect("room id")
    }

    /// Posts over HTTP; returns the stored message.
    pub async fn post_message(&self, user: &TestUser, room: i64, text: &str) -> Value {
        let (status, message) = self
            .post(
                &format!("/api/rooms/{room}/messages"),
                Some(&user.token),
                serde_json::json!({"text": text}),
            )
            .await;
        assert_eq!(status, 201, "{message}");
        message
    }

    pub async fn history(&self, user: &TestUser, room: i64, query: &str) -> Vec<Value> {
        let (status, messages) = self
            .get(
                &format!("/api/rooms/{room}/messages{query}"),
                Some(&user.token),
            )
            .await;
        assert_eq!(status, 200, "{messages}");
        messages.as_array().expect("array").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

pub fn jwt(username: &str, ttl_secs: i64) -> String {
    jwt_with_secret(username, ttl_secs, JWT_SECRET)
}

pub fn jwt_with_secret(username: &str, ttl_secs: i64, secret: &str) -> String {
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + ttl_secs;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": username, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A STOMP client over a real WebSocket.
pub struct Stomp {
    ws: Ws,
    decoder: Decoder,
    inbox: BytesMut,
    pub heartbeats: usize,
    /// The STOMP version frames are encoded and decoded for (header escaping).
    version: Version,
    /// How long `next` waits before the test fails as hung.
    pub patience: Duration,
}

impl Stomp {
    /// Opens the socket without sending CONNECT.
    pub async fn open(server: &TestServer) -> Stomp {
        Self::open_with(server, |_| {}).await.expect("upgrade")
    }

    pub async fn open_with(
        server: &TestServer,
        tune: impl FnOnce(&mut tokio_tungstenite::tungstenite::handshake::client::Request),
    ) -> Result<Stomp, tokio_tungstenite::tungstenite::Error> {
        Self::open_addr(server.addr, tune).await
    }

    pub async fn open_addr(
        addr: SocketAddr,
        tune: impl FnOnce(&mut tokio_tungstenite::tungstenite::handshake::client::Request),
    ) -> Result<Stomp, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v12.stomp, v11.stomp".parse().expect("header"),
        );
        tune(&mut request);
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self::over(ws))
    }

    fn over(ws: Ws) -> Stomp {
        Stomp {
            ws,
            decoder: Decoder::new(sotong_stomp::Limits {
                max_frame_bytes: 16 << 20,
                max_body_bytes: 16 << 20,
                ..Default::default()
            }),
            inbox: BytesMut::new(),
            heartbeats: 0,
            version: Version::V1_2,
            patience: PATIENCE,
        }
    }

    /// Sends CONNECT with `token`; panics unless CONNECTED.
    async fn handshake(&mut self, token: &str) {
        let connected = self
            .request(
                Frame::new(Command::Connect)
                    .with_header("accept-version", "1.2")
                    .with_header("host", "localhost")
                    .with_header("Authorization", format!("Bearer {token}")),
            )
            .await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
    }

    /// Opens and CONNECTs with `token`; panics unless CONNECTED.
    pub async fn connect(server: &TestServer, token: &str) -> Stomp {
        Self::connect_to(server.addr, token).await
    }

    /// Like `connect`, from a task that holds only the address.
    pub async fn connect_to(addr: SocketAddr, token: &str) -> Stomp {
        Self::connect_patiently(addr, token, PATIENCE).await
    }

    /// Like `connect_to`, for tests that load the machine on purpose (thousands of clients).
    pub async fn connect_patiently(addr: SocketAddr, token: &str, patience: Duration) -> Stomp {
        let mut client = Self::open_addr(addr, |_| {}).await.expect("upgrade");
        client.patience = patience;
        client.handshake(token).await;
        client
    }

    /// Like `connect`, over a socket whose receive buffer is tiny: a client that stops reading
    /// then makes the server's writes block soon (a slow reader).
    pub async fn connect_with_small_receive_buffer(server: &TestServer, token: &str) -> Stomp {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("tcp connect");
        let mut request = server.ws_url().into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v12.stomp".parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("upgrade");
        let mut client = Self::over(ws);
        client.handshake(token).await;
        client
    }

    pub async fn send_frame(&mut self, frame: Frame) {
        let mut buf = BytesMut::new();
        encode(&frame, self.version, &mut buf);
        match std::str::from_utf8(&buf) {
            Ok(_) => self.send_raw(&buf).await,
            Err(_) => self.send_binary(&buf).await,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let text = String::from_utf8(bytes.to_vec()).expect("utf8 frame");
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .expect("ws send");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(WsMessage::Binary(bytes.to_vec().into()))
            .await
            .expect("ws send");
    }

    /// Sends a frame and returns the next frame received.
    pub async fn request(&mut self, frame: Frame) -> Frame {
        self.send_frame(frame).await;
        self.next().await.expect("a frame")
    }

    /// The next frame, or `None` when the socket closed. Panics after PATIENCE.
    pub async fn next(&mut self) -> Option<Frame> {
        tokio::time::timeout(self.patience, self.next_inner())
            .await
            .expect("a frame in time")
    }

    async fn next_inner(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.inbox).expect("valid frame") {
                return Some(frame);
            }
            match self.ws.next().await {
                Some(Ok(WsMessage::Text(t))) => {
                    if t.as_str() == "\n" || t.as_str() == "\r\n" {
                        self.heartbeats += 1;
                    }
                    self.inbox.extend_from_slice(t.as_bytes())
                }
                Some(Ok(WsMessage::Binary(b))) => self.inbox.extend_from_slice(&b),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Frames until (and including) the first one that `done` accepts.
    pub async fn until(&mut self, mut done: impl FnMut(&Frame) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await.expect("socket closed early");
            let stop = done(&frame);
            frames.push(frame);
            if stop {
                return frames;
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, destination: &str) {
        self.subscribe_with(id, destination, &[]).await;
    }

    /// Subscribes and waits for the receipt; returns the frames that came before it.
    pub async fn subscribe_with(
        &mut self,
        id: &str,
        destination: &str,
        extra: &[(&str, &str)],
    ) -> Vec<Frame> {
        let receipt = format!("sub-{id}");
        let mut frame = Frame::new(Command::Subscribe)
            .with_header("id", id)
            .with_header("destination", destination)
            .with_header("receipt", receipt.clone());
        for (k, v) in extra {
            frame = frame.with_header(*k, *v);
        }
        self.send_frame(frame).await;
        let mut frames = self
            .until(|f| is_receipt(f, &receipt) || is_error_for(f, &receipt))
            .await;
        let last = frames.pop().expect("receipt");
        assert_eq!(
            last.command,
            Command::Receipt,
            "subscribe failed: {last:?} {}",
            body_text(&last)
        );
        frames
    }

    /// SENDs text to a room with a receipt; returns the RECEIPT (or the error event).
    pub async fn send_text(&mut self, room: i64, text: &str, receipt: &str) {
        self.send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("content-type", "application/json")
                .with_header("receipt", receipt)
                .with_body(serde_json::json!({"text": text}).to_string().into_bytes()),
        )
        .await;
    }

    /// Encodes and decodes headers as `version` does from now on (after its CONNECTED).
    pub fn speak(&mut self, version: Version) {
        self.version = version;
        self.decoder.set_version(version);
    }

    /// Reads until the server's WebSocket close and returns its code and reason (`None` when
    /// the socket ended without a close frame). Frames before it are dropped.
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        let read = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(WsMessage::Close(frame))) => {
                        return frame.map(|f| (u16::from(f.code), f.reason.to_string()))
                    }
                    None | Some(Err(_)) => return None,
                    Some(Ok(_)) => {}
                }
            }
        };
        tokio::time::timeout(self.patience, read)
            .await
            .expect("a close in time")
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn is_receipt(frame: &Frame, id: &str) -> bool {
    frame.command == Command::Receipt && frame.header("receipt-id") == Some(id)
}

pub fn is_error_for(frame: &Frame, receipt: &str) -> bool {
    frame.command == Command::Message
        && frame.header("destination") == Some("/user/queue/errors")
        && frame.header("receipt-id") == Some(receipt)
}

pub fn body_text(frame: &Frame) -> String {
    String::from_utf8_lossy(&frame.body).into_owned()
}

pub fn body(frame: &Frame) -> Value {
    serde_json::from_slice(&frame.body).unwrap_or(Value::Null)
}

/// The room-topic message events among `frames`, as (room, seq, text).
pub fn topic_messages(frames: &[Frame]) -> Vec<(i64, u64, String)> {
    frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .filter(|f| {
            f.header("destination")
                .is_some_and(|d| d.starts_with("/topic/rooms/"))
        })
        .map(body)
        .filter(|b| b["type"] == "message")
        .map(|b| {
            let m = &b["message"];
            (
                m["roomId"].as_i64().unwrap_or(-1),
                m["seq"].as_u64().unwrap_or(0),
                m["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The notification message events among `frames`, as (room, seq, text, unread).
pub fn notified_messages(frames: &[Frame]) -> Vec<(i64, u64, String, u64)> {
    frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .filter(|f| f.header("destination") == Some("/user/queue/notifications"))
        .map(body)
        .filter(|b| b["type"] == "message")
        .map(|b| {
            let m = &b["message"];
            (
                b["roomId"].as_i64().unwrap_or(-1),
                m["seq"].as_u64().unwrap_or(0),
                m["text"].as_str().unwrap_or("").to_string(),
                b["unread"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// Whether `frame` is a message event (either destination) with this text.
pub fn carries_text(frame: &Frame, text: &str) -> bool {
    frame.command == Command::Message && body(frame)["message"]["text"] == text
}
