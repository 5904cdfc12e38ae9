//! The SDK's one error type, named after what the caller can do about each case.
//!
//! Errors are `Clone` because one cause often reaches many callers at once: when the client
//! closes, every subscription and every pending send learns why.

use std::sync::Arc;

/// Everything that can go wrong, by what the caller can do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request (an error event on `/user/queue/errors`, an `ERROR` frame,
    /// or an HTTP error answer). Sending it again unchanged fails again.
    ///
    /// `code` is one of the contract's codes (`forbidden`, `not_found`, `invalid`, `too_large`,
    /// `rate_limited`, `unavailable`, …).
    #[error("refused by the server ({code}): {message}")]
    Refused {
        /// The machine-readable code.
        code: String,
        /// The server's human-readable explanation.
        message: String,
    },
    /// The token was refused and the token provider (if any) could not supply a working one.
    /// The client is closed; connect again with a new token.
    #[error("not authorised: {0}")]
    Auth(String),
    /// The client was closed (by [`Client::close`](crate::Client::close) or because every
    /// handle was dropped).
    #[error("the client is closed")]
    Closed,
    /// This subscriber did not read its events fast enough and was dropped, so the connection
    /// and the other subscribers never wait for it. Subscribe again to resume.
    #[error("the subscriber fell {capacity} events behind and was dropped")]
    Lagged {
        /// The subscriber's buffer size.
        capacity: usize,
    },
    /// A network problem (socket, HTTP, timeout). The connection itself retries on its own; a
    /// caller that sees this may retry later.
    #[error("network error: {0}")]
    Transport(Arc<dyn std::error::Error + Send + Sync>),
    /// The server answered something this SDK cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The URL given is not a `ws://` (or `http://`) URL this SDK can use.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
}

impl Error {
    /// The server's code when the server refused ([`Error::Refused`]), else `None`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn refused(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Refused {
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn transport(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Transport(Arc::new(err))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error, as a [`TokenProvider`](crate::TokenProvider) returns it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
