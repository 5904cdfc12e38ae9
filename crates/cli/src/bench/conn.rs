//! One connection under load: a single task that reads every delivery, sends the SENDs the
//! controller hands it, and flushes once per batch.
//!
//! The task is one hand-written poll loop over the unsplit socket rather than `select!` over
//! split halves: no lock between the halves, no future rebuilt per message, and the loop
//! keeps reading while a write waits for the server, so a server that writes before it
//! reads cannot deadlock the bench. A SEND is built straight into the string that becomes the
//! WebSocket message (one allocation); a delivery is scanned in place (none besides the
//! socket library's own for the message).

use super::scan::{next_frame, parse_u64, stamp_in, FrameRef, STAMP_MARKER};
use super::setup::Ws;
use super::stats::{ErrorKind, Recorder};
use futures_util::{Sink, Stream};
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Nanoseconds since the Unix epoch: the clock both ends of a latency are read from (one
/// machine, one clock; a vDSO call, no system call).
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a publishing connection sends.
#[derive(Debug, Clone)]
pub(crate) struct Publisher {
    /// `SEND\ndestination:…\ncontent-type:application/json\nx-sent-ns:`, built once.
    prefix: String,
    /// Filler after the timestamp, so bodies have a realistic size.
    padding: String,
    /// Whether each SEND asks for a RECEIPT (`receipt:r{sent-ns}`).
    receipts: bool,
    /// Subscribers of the destination: the deliveries each SEND should cause.
    fanout: u64,
}

impl Publisher {
    pub(crate) fn new(destination: &str, body_bytes: usize, receipts: bool, fanout: u64) -> Self {
        let prefix = format!(
            "SEND\ndestination:{}\ncontent-type:application/json\nx-sent-ns:",
            escape_header(destination)
        );
        // `{"text":"sent-ns=` + 19 digits + ` ` + padding + `"}` comes to body_bytes.
        let fixed = r#"{"text":""#.len() + STAMP_MARKER.len() + 19 + 1 + r#""}"#.len();
        Publisher {
            prefix,
            padding: "x".repeat(body_bytes.saturating_sub(fixed)),
            receipts,
            fanout,
        }
    }

    /// The SEND frame stamped `now`: the time in a header for tools that read headers, and in
    /// the body text, which is all that reaches sotong's subscribers.
    pub(crate) fn frame(&self, now: u64) -> String {
        let mut frame = String::with_capacity(self.prefix.len() + self.padding.len() + 128);
        frame.push_str(&self.prefix);
        let _ = writeln!(frame, "{now}");
        if self.receipts {
            let _ = writeln!(frame, "receipt:r{now}");
        }
        let body_len = r#"{"text":""#.len()
            + STAMP_MARKER.len()
            + decimal_len(now)
            + 1
            + self.padding.len()
            + r#""}"#.len();
        let _ = write!(
            frame,
            "content-length:{body_len}\n\n{{\"text\":\"sent-ns={now} {}\"}}\0",
            self.padding
        );
        frame
    }
}

/// STOMP 1.2 header escaping, for a destination from the command line.
fn escape_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' => out.push_str("\\c"),
            c => out.push(c),
        }
    }
    out
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// A connection's task state.
pub(crate) struct Connection {
    ws: Ws,
    /// Due times (Unix ns) of the SENDs to make; the controller closes the connection by
    /// dropping the sending side.
    commands: mpsc::UnboundedReceiver<u64>,
    publisher: Option<Publisher>,
    recorder: Arc<Recorder>,
    /// Whether this connection is on another node than the publishers (its deliveries
    /// crossed nodes).
    across_nodes: bool,
    /// The start of a frame that continues in the next WebSocket message.
    partial: Vec<u8>,
    /// Messages written since the last flush.
    unflushed: bool,
}

impl Connection {
    pub(crate) fn new(
        ws: Ws,
        commands: mpsc::UnboundedReceiver<u64>,
        publisher: Option<Publisher>,
        recorder: Arc<Recorder>,
        across_nodes: bool,
    ) -> Self {
        Connection {
            ws,
            commands,
            publisher,
            recorder,
            across_nodes,
            partial: Vec::new(),
            unflushed: false,
        }
    }

    /// Runs until the controller lets go of the connection or the server closes it.
    pub(crate) async fn run(mut self) {
        std::future::poll_fn(|cx| self.poll(cx)).await;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut busy = false;
            // Everything that has arrived. tokio's cooperative budget ends this loop with
            // Pending (and a wake-up) if the socket never runs dry.
            loop {
                match Pin::new(&mut self.ws).poll_next(cx) {
                    Poll::Ready(Some(Ok(message))) => {
                        busy = true;
                        self.receive(&message);
                    }
                    Poll::Ready(Some(Err(err))) => return self.lost(format!("read: {err}")),
                    Poll::Ready(None) => return self.lost("the server closed the socket".into()),
                    Poll::Pending => break,
                }
            }
            // The SENDs that are due, while the socket takes them.
            loop {
                match Pin::new(&mut self.ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return self.lost(format!("write: {err}")),
                    Poll::Pending => break,
                }
                match self.commands.poll_recv(cx) {
                    Poll::Ready(Some(due_ns)) => {
                        busy = true;
                        let Some(publisher) = &self.publisher else {
                            continue;
                        };
                        let now = now_ns();
                        let frame = publisher.frame(now);
                        self.recorder.sent(now, due_ns, publisher.fanout);
                        if let Err(err) =
                            Pin::new(&mut self.ws).start_send(Message::Text(frame.into()))
                        {
                            return self.lost(format!("write: {err}"));
                        }
                        self.unflushed = true;
                    }
                    // The controller is done with this connection.
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            // One flush for the whole batch.
            if self.unflushed {
                match Pin::new(&mut self.ws).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(err)) => return self.lost(format!("write: {err}")),
                    Poll::Pending => {}
                }
            }
            if !busy {
                return Poll::Pending;
            }
        }
    }

    fn lost(&self, why: String) -> Poll<()> {
        self.recorder.error(ErrorKind::Disconnect, now_ns(), || {
            format!("connection lost: {why}")
        });
        Poll::Ready(())
    }

    fn receive(&mut self, message: &Message) {
        let bytes: &[u8] = match message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
            _ => return,
        };
        // One clock read for everything in this message.
        let now = now_ns();
        if self.partial.is_empty() {
            let used = handle_frames(bytes, now, &self.recorder, self.across_nodes);
            self.partial.extend_from_slice(&bytes[used..]);
        } else {
            self.partial.extend_from_slice(bytes);
            let used = handle_frames(&self.partial, now, &self.recorder, self.across_nodes);
            self.partial.drain(..used);
        }
    }
}

/// Handles every complete frame in `buf`; returns the bytes used.
fn handle_frames(buf: &[u8], now: u64, recorder: &Recorder, across_nodes: bool) -> usize {
    let mut used = 0;
    loop {
        match next_frame(&buf[used..]) {
            Ok(Some((frame, len))) => {
                handle_frame(&frame, now, recorder, across_nodes);
                used += len;
            }
            Ok(None) => return used,
            Err(_) => {
                recorder.error(ErrorKind::Malformed, now, || {
                    format!("not STOMP: {}", String::from_utf8_lossy(&buf[used..]))
                });
                return buf.len();
            }
        }
    }
}

fn handle_frame(frame: &FrameRef<'_>, now: u64, recorder: &Recorder, across_nodes: bool) {
    match frame.command {
        b"MESSAGE" => match stamp_in(frame.body) {
            Some(sent) => recorder.delivered(sent, now, across_nodes),
            None if frame.header("destination") == Some(b"/user/queue/errors") => {
                recorder.error(ErrorKind::Event, now, || {
                    format!("error event: {}", String::from_utf8_lossy(frame.body))
                });
            }
            None => {
                recorder.totals.other_messages.fetch_add(1, Relaxed);
            }
        },
        b"RECEIPT" => {
            if let Some(sent) = frame
                .header("receipt-id")
                .and_then(|id| id.strip_prefix(b"r"))
                .and_then(parse_u64)
            {
                recorder.receipt(sent, now);
            }
        }
        b"ERROR" => recorder.error(ErrorKind::Frame, now, || {
            format!(
                "ERROR {}: {}",
                String::from_utf8_lossy(frame.header("message").unwrap_or_default()),
                String::from_utf8_lossy(frame.body)
            )
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use sotong_stomp::{Command, Decoder, Limits};

    #[test]
    fn a_send_frame_is_valid_stomp_with_the_stamp_in_header_and_body() {
        let publisher = Publisher::new("/app/rooms/7", 100, true, 10);
        let now = 1_732_600_000_123_456_789;
        let frame = publisher.frame(now);
        let mut buf = BytesMut::from(frame.as_bytes());
        let decoded = Decoder::new(Limits::default())
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert!(buf.is_empty());
        assert_eq!(decoded.command, Command::Send);
        assert_eq!(decoded.header("destination"), Some("/app/rooms/7"));
        assert_eq!(decoded.header("x-sent-ns"), Some("1732600000123456789"));
        assert_eq!(decoded.header("receipt"), Some("r1732600000123456789"));
        assert_eq!(decoded.body.len(), 100);
        let body: serde_json::Value = serde_json::from_slice(&decoded.body).unwrap();
        assert!(body["text"]
            .as_str()
            .unwrap()
            .starts_with("sent-ns=1732600000123456789 x"));
        assert_eq!(stamp_in(&decoded.body), Some(now));
    }

    #[test]
    fn destinations_are_escaped() {
        let publisher = Publisher::new("/queue/a:b", 10, false, 1);
        let frame = publisher.frame(5);
        let mut buf = BytesMut::from(frame.as_bytes());
        let decoded = Decoder::new(Limits::default())
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(decoded.header("destination"), Some("/queue/a:b"));
        assert_eq!(decoded.header("receipt"), None);
    }

    #[test]
    fn deliveries_receipts_and_errors_are_told_apart() {
        let recorder = Recorder::default();
        let window = recorder.open_window(0, u64::MAX);
        let buf = b"MESSAGE\ndestination:/topic/rooms/1\n\n{\"text\":\"sent-ns=1000 x\"}\0\
MESSAGE\ndestination:/user/queue/notifications\n\n{\"type\":\"room\"}\0\
MESSAGE\ndestination:/user/queue/errors\n\n{\"type\":\"error\",\"code\":\"rate_limited\"}\0\
RECEIPT\nreceipt-id:r2000\n\n\0\
ERROR\nmessage:slow_consumer\n\nbye\0\
MESSAGE\ndestination:/top";
        let used = handle_frames(buf, 5_000_000, &recorder, true);
        assert_eq!(&buf[used..], b"MESSAGE\ndestination:/top");
        let w = recorder.window(window).unwrap();
        assert_eq!(w.deliveries, 1);
        assert_eq!(w.received_across_nodes, 1);
        assert_eq!(w.latency.max(), 4999);
        assert_eq!(w.receipts.len(), 1);
        assert_eq!(recorder.totals.other_messages.load(Relaxed), 1);
        assert_eq!(recorder.totals.error_events.load(Relaxed), 1);
        assert_eq!(recorder.totals.error_frames.load(Relaxed), 1);
        assert!(recorder.error_samples()[1].contains("slow_consumer"));
    }

    #[test]
    fn decimal_lengths() {
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(u64::MAX), 20);
    }
}
