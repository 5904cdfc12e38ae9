//! How a session ends: the reason ([`Close`]), the closing `ERROR` frame and WebSocket close
//! code, and which failures are fatal with which contract code.
//!
//! This module owns the mapping from a reason to what the client sees last. It writes to the
//! socket only in [`finish`], once the session is over; it reaches no session state, no hub and
//! no store.

use super::frames::ws_message;
use super::Transport;
use crate::app::App;
use axum::extract::ws::{CloseFrame, Message as WsMessage};
use futures_util::SinkExt;
use sotong_stomp::{Command, Frame, Version};
use std::time::Duration;

/// Why a session ends.
#[derive(Debug)]
pub(super) enum Close {
    /// DISCONNECT or the peer closed.
    Clean,
    /// An `ERROR` frame with a code from the contract, then close.
    Fatal {
        /// The contract's code, the `ERROR` frame's `message` header.
        code: &'static str,
        /// The human text, the `ERROR` frame's body.
        message: String,
        /// Further headers of the `ERROR` frame (`receipt-id`, or `version` when no version is
        /// in common).
        headers: Vec<(&'static str, String)>,
    },
}

impl Close {
    /// A fatal end with `code` and no further headers.
    pub(super) fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Close::Fatal {
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

/// The error code for a frame the decoder rejected.
pub(super) fn fatal_code(err: &sotong_stomp::ParseError) -> &'static str {
    if err.code() == "too_large" {
        "too_large"
    } else {
        "malformed"
    }
}

/// Whether a socket error is a WebSocket message above the WebSocket layer's own cap (the hard
/// cap, several times `max_frame_bytes`, set at the upgrade).
pub(super) fn is_too_big(err: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(ws) = cause.downcast_ref::<tungstenite::Error>() {
            return matches!(ws, tungstenite::Error::Capacity(_));
        }
        source = cause.source();
    }
    false
}

/// The end of a connection that sent a WebSocket message above the hard cap: `ERROR too_large`
/// (then close 1009), like a STOMP frame above `max_frame_bytes`, instead of a bare close.
pub(super) fn too_big_close(app: &App) -> Close {
    Close::fatal(
        "too_large",
        format!(
            "a WebSocket message above the limit (frames have at most {} bytes)",
            app.config().limits.max_frame_bytes
        ),
    )
}

/// Sends the closing ERROR (if any) and closes the socket, without waiting long for a peer
/// that does not read.
pub(super) async fn finish<T: Transport>(socket: &mut T, version: Version, close: Close) {
    let work = async {
        if let Close::Fatal {
            code,
            message,
            headers,
        } = &close
        {
            let mut frame = Frame::new(Command::Error)
                .with_header("message", *code)
                .with_header("content-type", "text/plain");
            for (name, value) in headers {
                frame = frame.with_header(*name, value.clone());
            }
            let frame = frame.with_body(message.clone().into_bytes());
            let _ = socket.feed(ws_message(&frame, version)).await;
        }
        // RFC 6455 7.4.1: 1001 going away, 1009 too big to process, 1008 policy violation.
        let (code, reason) = match &close {
            Close::Clean => (1000, ""),
            Close::Fatal {
                code: "shutting_down",
                ..
            } => (1001, "shutting_down"),
            Close::Fatal {
                code: "too_large", ..
            } => (1009, "too_large"),
            Close::Fatal { code, .. } => (1008, *code),
        };
        let _ = socket
            .send(WsMessage::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), work).await;
}
