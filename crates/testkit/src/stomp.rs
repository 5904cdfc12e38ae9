//! A raw STOMP client over a real WebSocket: it sends exactly the frames a test writes and
//! hands back every frame the server sends, so tests can speak the protocol badly on purpose.
//! Also the small readers of received frames that tests share. It must never depend on the
//! SDK under test.

use crate::{TestServer, PATIENCE};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sotong_stomp::{encode, Command, Decoder, Frame, Version};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A STOMP client over a real WebSocket. It asserts nothing the test did not ask for; a
/// frame that does not come within its patience fails the test as hung.
pub struct Stomp {
    ws: Ws,
    decoder: Decoder,
    inbox: BytesMut,
    /// Heart-beats (lone EOLs) received so far.
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

    /// Opens the socket, letting `tune` change the upgrade request (headers, subprotocols);
    /// the refusal of an upgrade is the test's to look at.
    pub async fn open_with(
        server: &TestServer,
        tune: impl FnOnce(&mut tokio_tungstenite::tungstenite::handshake::client::Request),
    ) -> Result<Stomp, tokio_tungstenite::tungstenite::Error> {
        Self::open_addr(server.addr, tune).await
    }

    /// Like `open_with`, from a task that holds only the address.
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

    /// Sends a JSON `body` to room `room` (`SEND /app/rooms/{room}`), asking for a receipt
    /// `receipt`: a message with whatever a JSON body may carry (a reply, attachments).
    pub async fn send_json(&mut self, room: i64, body: Value, receipt: &str) {
        self.send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("content-type", "application/json")
                .with_header("receipt", receipt)
                .with_body(body.to_string().into_bytes()),
        )
        .await;
    }

    /// Encodes `frame` for the spoken version and sends it: as a text message when it is
    /// UTF-8, otherwise as a binary one.
    pub async fn send_frame(&mut self, frame: Frame) {
        let mut buf = BytesMut::new();
        encode(&frame, self.version, &mut buf);
        match std::str::from_utf8(&buf) {
            Ok(_) => self.send_raw(&buf).await,
            Err(_) => self.send_binary(&buf).await,
        }
    }

    /// Like `send_frame`, for a test whose server may die under it: a socket that cannot be
    /// written to is the test's to handle, not a failure.
    ///
    /// # Errors
    /// The socket's, when the frame could not be written.
    pub async fn try_send_frame(
        &mut self,
        frame: Frame,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let mut buf = BytesMut::new();
        encode(&frame, self.version, &mut buf);
        let message = match String::from_utf8(buf.to_vec()) {
            Ok(text) => WsMessage::Text(text.into()),
            Err(_) => WsMessage::Binary(buf.freeze()),
        };
        self.ws.send(message).await
    }

    /// Sends `bytes` as one text WebSocket message, whatever they say (malformed frames too).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let text = String::from_utf8(bytes.to_vec()).expect("utf8 frame");
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .expect("ws send");
    }

    /// Sends `bytes` as one binary WebSocket message.
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

    /// Subscribes `id` to `destination` and waits for the receipt; panics on a refusal.
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

    /// SENDs text to a room with a receipt; the RECEIPT (or the error event) is the test's to
    /// read.
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

    /// Closes the WebSocket from the client's side, without DISCONNECT.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Whether `frame` is the RECEIPT for the receipt id `id`.
pub fn is_receipt(frame: &Frame, id: &str) -> bool {
    frame.command == Command::Receipt && frame.header("receipt-id") == Some(id)
}

/// Whether `frame` is the error event the server sends instead of the receipt `receipt`.
pub fn is_error_for(frame: &Frame, receipt: &str) -> bool {
    frame.command == Command::Message
        && frame.header("destination") == Some("/user/queue/errors")
        && frame.header("receipt-id") == Some(receipt)
}

/// A frame's body as text (lossy), for failure messages.
pub fn body_text(frame: &Frame) -> String {
    String::from_utf8_lossy(&frame.body).into_owned()
}

/// A frame's body as JSON (`Null` when it is not JSON).
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
