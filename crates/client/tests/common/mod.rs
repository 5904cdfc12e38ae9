//! The SDK's tests on the shared test kit: its server, answering in the SDK's types (a
//! direct room is a `RoomId`, a stored message's number a `Seq`) and handing out connected
//! `Client`s; waiting on the SDK's streams and states; and a scripted STOMP endpoint for what
//! a real server will not do on cue.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use sotong_client::{Client, RoomEvent, RoomId, Seq, State, Subscription};
pub use sotong_testkit::{jwt, TestUser, PATIENCE};
use std::net::SocketAddr;
use std::ops::Deref;

/// The shared test server, seen from the SDK: the calls below answer in the SDK's types, and
/// every other field and call is the shared server's.
pub struct TestServer(sotong_testkit::TestServer);

impl Deref for TestServer {
    type Target = sotong_testkit::TestServer;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestServer {
    pub async fn spawn() -> TestServer {
        TestServer(sotong_testkit::TestServer::spawn().await)
    }

    /// Starts a server on `addr` over an existing data dir: the same server, restarted.
    pub async fn spawn_at(addr: SocketAddr, dir: sotong_testkit::ServerData) -> TestServer {
        TestServer(sotong_testkit::TestServer::spawn_at(addr, dir, |_| {}).await)
    }

    /// Starts a server over `dir` on a fresh port (to change data while clients of the
    /// original address cannot connect).
    pub async fn spawn_in(dir: sotong_testkit::ServerData) -> TestServer {
        TestServer(sotong_testkit::TestServer::spawn_in(dir, |_| {}).await)
    }

    /// Stops the server, waits for it to drain, and hands back its data.
    pub async fn stop(self) -> sotong_testkit::ServerData {
        self.0.stop().await
    }

    /// The direct room of two users.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> RoomId {
        RoomId(self.0.direct(a, b).await)
    }

    /// Posts over HTTP as `user`; returns the stored message's seq.
    pub async fn post_message(&self, user: &TestUser, room: RoomId, text: &str) -> Seq {
        let message = self.0.post_message(user, room.0, text).await;
        Seq(message["seq"].as_u64().expect("seq"))
    }

    pub async fn client(&self, user: &TestUser) -> Client {
        within(Client::connect(self.ws_url(), user.token.clone()))
            .await
            .expect("connect")
    }
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
