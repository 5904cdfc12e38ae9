//! An in-memory [`Transport`](crate::session::Transport): a session driven through channels
//! instead of a socket, for tests and fuzzing (the session code is the same either way).

use axum::extract::ws::Message;
use futures_util::{Sink, Stream};
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
