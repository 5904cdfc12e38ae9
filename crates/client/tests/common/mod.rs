//! Test harness: a real sotong server in this process, on an ephemeral loopback port with its
//! own temporary data dir, that can be stopped and started again on the same address and data
//! (a restart, as far as a client can tell). Users sign in with application JWTs.
#![allow(dead_code, unreachable_pub, missing_docs)]

use serde_json::Value;
use sotong_client::{Client, RoomEvent, Seq, State, Subscription};
use sotong_server::config::{Limits, Registration};
use sotong_server::Config;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const JWT_SECRET: &str = "client-test-secret-0123456789";
/// A guard against a test hanging forever; never a stand-in for synchronisation.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<Result<(), sotong_server::ServerError>>>,
    pub dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn spawn() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::serve(listener, dir).await
    }

    /// Starts a server on `addr` over an existing data dir: the same server, restarted.
    pub async fn spawn_at(addr: SocketAddr, dir: tempfile::TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the same address again");
        Self::serve(listener, dir).await
    }

    /// Starts a server over `dir` on a fresh port (to change data while clients of the
    /// original address cannot connect).
    pub async fn spawn_in(dir: tempfile::TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::serve(listener, dir).await
    }

    async fn serve(listener: tokio::net::TcpListener, dir: tempfile::TempDir) -> TestServer {
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some(JWT_SECRET.into()),
            web_dir: Some(dir.path().join("no-web-app")),
            // These tests sign up with passwords as well as JWTs.
            registration: Some(Registration::Open),
            limits: Limits {
                send_rate_per_sec: 10_000,
                send_burst: 10_000,
                ..Limits::default()
            },
            ..Config::default()
        };
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sotong_server::run(listener, config, shutdown.clone()));
        let server = TestServer {
            addr,
            shutdown,
            task: Some(task),
            dir: Some(dir),
            http: reqwest::Client::new(),
        };
        // The listener is bound before run() is called, so requests queue until it serves.
        let (status, _) = server.get("/healthz", None).await;
        assert_eq!(status, 200, "server did not become healthy");
        server
    }

    /// Stops the server, waits for it to drain, and hands back its data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("drained in time")
                .expect("server task")
                .expect("server result");
        }
        self.dir.take().expect("data dir")
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A user signed in with an application JWT (created on first use).
    pub async fn user(&self, username: &str) -> TestUser {
        let token = jwt(username, 3600);
        let (status, me) = self.get("/api/me", Some(&token)).await;
        assert_eq!(status, 200, "{me}");
        TestUser {
            username: username.to_string(),
            token,
        }
    }

    /// The direct room of two users.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> sotong_client::RoomId {
        let (status, room) = self
            .post(
                "/api/rooms/direct",
                Some(&a.token),
                serde_json::json!({ "username": b.username }),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {room}");
        sotong_client::RoomId(room["id"].as_i64().expect("room id"))
    }

    /// Posts over HTTP as `user`; returns the stored message's seq.
    pub async fn post_message(
        &self,
        user: &TestUser,
        room: sotong_client::RoomId,
        text: &str,
    ) -> Seq {
        let (status, message) = self
            .post(
                &format!("/api/rooms/{room}/messages"),
                Some(&user.token),
                serde_json::json!({ "text": text }),
            )
            .await;
        assert_eq!(status, 201, "{message}");
        Seq(message["seq"].as_u64().expect("seq"))
    }

    /// A gauge or counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> i64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .map(|v| v as i64)
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }

    pub async fn client(&self, user: &TestUser) -> Client {
        within(Client::connect(self.ws_url(), user.token.clone()))
            .await
            .expect("connect")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: String,
    pub token: String,
}

pub fn jwt(username: &str, ttl_secs: i64) -> String {
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + ttl_secs;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": username, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("jwt")
}

/// Awaits `fut`, panicking if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("timed out: the awaited event never came")
}

/// The next room event that is a message, as (seq, text).
pub async fn next_message(sub: &mut Subscription<RoomEvent>) -> (u64, String) {
    use futures_util::StreamExt;
    loop {
        let event = within(sub.next())
            .await
            .expect("the stream ended")
            .expect("an event, not an error");
        if let RoomEvent::Message(message) = event {
            return (message.seq.0, message.text);
        }
    }
}

/// Waits until the client's state is `want`.
pub async fn wait_state(client: &Client, want: State) {
    let mut state = client.state();
    within(state.wait_for(|s| *s == want))
        .await
        .expect("the state channel closed");
}

/// A scripted STOMP endpoint for what a real server will not do on cue (lose a receipt, go
/// silent). It answers `CONNECT` and receipted `SUBSCRIBE`s; everything else is up to the test.
pub struct FakeStomp {
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    decoder: sotong_stomp::Decoder,
    inbox: bytes::BytesMut,
}

impl FakeStomp {
    pub async fn accept(listener: &tokio::net::TcpListener) -> FakeStomp {
        use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
        use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
        let (tcp, _) = listener.accept().await.expect("accept");
        // The error type is tungstenite's handshake callback signature, not ours to shrink.
        #[allow(clippy::result_large_err)]
        let offer_stomp =
            |_: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static("v12.stomp"),
                );
                Ok(response)
            };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, offer_stomp)
            .await
            .expect("upgrade");
        FakeStomp {
            ws,
            decoder: sotong_stomp::Decoder::new(sotong_stomp::Limits::default()),
            inbox: bytes::BytesMut::new(),
        }
    }

    /// The next frame, or `None` when the client went away.
    pub async fn next_frame(&mut self) -> Option<sotong_stomp::Frame> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.inbox).expect("a valid frame") {
                return Some(frame);
            }
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => self.inbox.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => self.inbox.extend_from_slice(&bytes),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn send(&mut self, frame: sotong_stomp::Frame) {
        use futures_util::SinkExt;
        let mut buf = bytes::BytesMut::new();
        sotong_stomp::encode(&frame, sotong_stomp::Version::V1_2, &mut buf);
        let text = String::from_utf8(buf.to_vec()).expect("utf-8 frame");
        let message = tokio_tungstenite::tungstenite::Message::text(text);
        self.ws.send(message).await.expect("ws send");
    }

    /// Answers `CONNECT` (offering `heart_beat`) and receipted `SUBSCRIBE`s; returns the first
    /// other frame, or `None` when the client went away.
    pub async fn serve(&mut self, heart_beat: &str) -> Option<sotong_stomp::Frame> {
        use sotong_stomp::{Command, Frame};
        loop {
            let frame = self.next_frame().await?;
            match frame.command {
                Command::Connect => {
                    self.send(
                        Frame::new(Command::Connected)
                            .with_header("version", "1.2")
                            .with_header("heart-beat", heart_beat),
                    )
                    .await
                }
                Command::Subscribe => {
                    if let Some(receipt) = frame.header("receipt") {
                        let receipt = receipt.to_string();
                        self.send(Frame::new(Command::Receipt).with_header("receipt-id", receipt))
                            .await;
                    }
                }
                _ => return Some(frame),
            }
        }
    }
}

/// Accepts one connection, takes its first `SEND`, then drops the socket without a receipt: a
/// server that died between storing a message and answering. Returns that `SEND`.
pub async fn swallow_one_send(listener: tokio::net::TcpListener) -> sotong_stomp::Frame {
    let mut conn = FakeStomp::accept(&listener).await;
    loop {
        let frame = conn.serve("0,0").await.expect("the client went away");
        if frame.command == sotong_stomp::Command::Send {
            return frame;
        }
    }
}
