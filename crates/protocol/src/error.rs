//! Errors the decoder reports when the peer's bytes are not a valid STOMP frame.
//!
//! Every error is fatal for the connection: the STOMP 1.2 spec says a server
//! that cannot process a frame "MUST then close the connection" after sending
//! an `ERROR` frame, and after a framing error the byte stream has no reliable
//! resynchronisation point anyway. [`ParseError::code`] gives the server a
//! short, stable token to put in that `ERROR` frame and in metrics.

use thiserror::Error;

/// Why a byte stream could not be decoded into a [`Frame`](crate::Frame).
///
/// Variants are deliberately field-less so callers can match on them without
/// depending on details; the `Display` text is meant for the `message` header
/// of an `ERROR` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ParseError {
    /// The command line is not one of the fifteen STOMP 1.2 commands.
    #[error("invalid or unknown STOMP command")]
    InvalidCommand,
    /// A header line has no `:`, an empty name, or a NUL / bare CR octet.
    #[error("malformed header line")]
    InvalidHeader,
    /// A header contains a backslash escape the negotiated version does not define.
    #[error("undefined escape sequence in header")]
    InvalidEscape,
    /// The command or a header is not valid UTF-8.
    #[error("header is not valid UTF-8")]
    InvalidUtf8,
    /// The `content-length` header is not a non-negative decimal integer.
    #[error("content-length is not a valid octet count")]
    InvalidContentLength,
    /// The body announced by `content-length` is not followed by a NUL octet.
    #[error("frame body is not terminated by NUL")]
    MissingNul,
    /// The frame carries more headers than [`Limits::max_headers`](crate::Limits::max_headers).
    #[error("too many headers")]
    TooManyHeaders,
    /// A header line is longer than [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    #[error("header line too long")]
    HeaderTooLong,
    /// The frame (or its body) exceeds [`Limits::max_frame_bytes`](crate::Limits::max_frame_bytes)
    /// or [`Limits::max_body_bytes`](crate::Limits::max_body_bytes).
    #[error("frame too large")]
    FrameTooLarge,
}

impl ParseError {
    /// A short machine-readable token for logs, metrics and `ERROR` frames:
    /// `"too_large"` when a size limit was hit (the peer may retry with a
    /// smaller frame), `"malformed"` for everything else (the peer is broken).
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::TooManyHeaders | ParseError::HeaderTooLong | ParseError::FrameTooLarge => {
                "too_large"
            }
            ParseError::InvalidCommand
            | ParseError::InvalidHeader
            | ParseError::InvalidEscape
            | ParseError::InvalidUtf8
            | ParseError::InvalidContentLength
            | ParseError::MissingNul => "malformed",
        }
    }
}
