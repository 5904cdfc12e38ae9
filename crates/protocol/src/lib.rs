//! `sotong-stomp`: a sans-IO codec for STOMP 1.2, the text protocol the
//! sotong chat server speaks over WebSocket.
//!
//! The crate does no I/O: the server feeds received bytes into a
//! [`Decoder`] and gets [`Frame`]s back, and turns frames into bytes with
//! [`encode`]. Keeping the protocol apart from sockets and tasks means it can
//! be unit-tested byte by byte, property-tested and benchmarked in isolation,
//! and that every protocol decision (escaping, size limits, version
//! negotiation) lives in one place, next to the spec clause that drives it
//! (<https://stomp.github.io/stomp-specification-1.2.html>).
//!
//! ```
//! use bytes::BytesMut;
//! use sotong_stomp::{encode, Command, Decoder, Frame, Limits, Version};
//!
//! let mut buf = BytesMut::from(&b"SEND\ndestination:/app/rooms/42\n\nhello\0"[..]);
//! let mut decoder = Decoder::new(Limits::default());
//! let frame = decoder.decode(&mut buf).unwrap().unwrap();
//! assert_eq!(frame.command, Command::Send);
//! assert_eq!(frame.header("destination"), Some("/app/rooms/42"));
//! assert_eq!(&frame.body[..], b"hello");
//!
//! let mut out = BytesMut::new();
//! encode(&Frame::new(Command::Receipt).with_header("receipt-id", "7"), Version::V1_2, &mut out);
//! assert_eq!(&out[..], b"RECEIPT\nreceipt-id:7\n\n\0");
//! ```
//!
//! # Layout
//!
//! * `frame.rs`: the [`Frame`] struct: command, ordered [`Headers`], body;
//!   decoded headers point into the receive buffer instead of being copied.
//! * `command.rs`: the [`Command`] enum and its wire spelling.
//! * `headers.rs`: header escaping per version, the word-at-a-time octet
//!   scans behind it and behind the decoder's line splitting,
//!   [`parse_heart_beat`] and [`negotiate_heart_beat`].
//! * `codec.rs`: the incremental [`Decoder`] with its [`Limits`], [`encode`],
//!   and [`Version`] negotiation; its byte-literal and property tests live in
//!   `codec/tests.rs`.
//! * `error.rs`: [`ParseError`], everything the decoder can reject.
//!
//! Benchmarks are in `benches/codec.rs`; figures in the workspace's
//! `BENCHMARKS.md`.
//!
//! It owns STOMP's framing and nothing else, and reaches nothing of the server or the SDK: no
//! sockets, no runtime, no chat concepts. Both sides (and the fuzzers) use it the same way.

mod codec;
mod command;
mod error;
mod frame;
mod headers;

pub use codec::{encode, Decoder, Limits, Version};
pub use command::Command;
pub use error::ParseError;
pub use frame::{Frame, HeaderIter, Headers};
pub use headers::{negotiate_heart_beat, parse_heart_beat};
