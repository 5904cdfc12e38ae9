//! An in-memory [`Transport`](crate::session::Transport): a session driven through channels
//! instead of a socket, for tests and fuzzing (the session code is the same either way), and
//! [`StompPeer`], the client's end speaking STOMP frames over it.

use axum::extract::ws::Message;
use bytes::BytesMut;
use futures_util::{Sink, Stream};
use sotong_stomp::{encode, Decoder, Frame, Limits, ParseError, Version};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// The server's end: what the session reads from and writes to.
#[derive(Debug)]
pub struct ChannelTransport {
    incoming: mpsc::Receiver<Message>,
    outgoing: PollSender<Message>,
}

/// The client's end: send what the client sends, receive what the session writes.
#[derive(Debug)]
pub struct ChannelPeer {
    /// Messages to the session. Dropping it is the client closing the socket.
    pub to_server: mpsc::Sender<Message>,
    /// Messages from the session. `None` once the session has ended.
    pub from_server: mpsc::Receiver<Message>,
}

/// A connected pair whose queues each hold `capacity` messages.
pub fn pair(capacity: usize) -> (ChannelTransport, ChannelPeer) {
    let (to_server, incoming) = mpsc::channel(capacity.max(1));
    let (outgoing, from_server) = mpsc::channel(capacity.max(1));
    (
        ChannelTransport {
            incoming,
            outgoing: PollSender::new(outgoing),
        },
        ChannelPeer {
            to_server,
            from_server,
        },
    )
}

impl Stream for ChannelTransport {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for ChannelTransport {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_ready(cx)
            .map_err(axum::Error::new)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.outgoing)
            .start_send(item)
            .map_err(axum::Error::new)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_flush(cx)
            .map_err(axum::Error::new)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_close(cx)
            .map_err(axum::Error::new)
    }
}

/// Why a [`StompPeer`] cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The session ended (it closed its end, or stopped reading).
    #[error("the session has ended")]
    Closed,
    /// The session wrote something that is not a STOMP 1.2 frame.
    #[error("the session sent a malformed frame: {0}")]
    Malformed(#[from] ParseError),
}

/// The client's end of a [`pair`] speaking STOMP 1.2: frames in, frames out, so that a test can
/// put a session through any order of events without a socket.
#[derive(Debug)]
pub struct StompPeer {
    peer: ChannelPeer,
    decoder: Decoder,
    inbox: BytesMut,
}

impl StompPeer {
    /// Speaks STOMP 1.2 over `peer`.
    pub fn new(peer: ChannelPeer) -> Self {
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_version(Version::V1_2);
        StompPeer {
            peer,
            decoder,
            inbox: BytesMut::new(),
        }
    }

    /// Sends `frames` in one WebSocket message: the session handles them all before it looks
    /// at its queue again.
    ///
    /// # Errors
    /// `Closed` once the session no longer reads.
    pub async fn send(&mut self, frames: &[Frame]) -> Result<(), PeerError> {
        let mut buf = BytesMut::new();
        for frame in frames {
            encode(frame, Version::V1_2, &mut buf);
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        self.peer
            .to_server
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| PeerError::Closed)
    }

    /// The next frame the session wrote, waiting for it.
    ///
    /// # Errors
    /// `Closed` when the session ended first; `Malformed` for a frame that does not parse.
    pub async fn next(&mut self) -> Result<Frame, PeerError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.inbox)? {
                return Ok(frame);
            }
            match self.peer.from_server.recv().await {
                Some(Message::Text(text)) => self.inbox.extend_from_slice(text.as_bytes()),
                Some(Message::Binary(bytes)) => self.inbox.extend_from_slice(&bytes),
                Some(_) => {}
                None => return Err(PeerError::Closed),
            }
        }
    }
}
