//! The CONNECT handshake: the first frame, read within the connect timeout; the version, the
//! token and the heart-beats agreed from it; and the CONNECTED answer.
//!
//! This module owns everything before the connection is registered with the hub. It reads the
//! socket only for the first frame and never writes to it (the caller sends the answer or the
//! ERROR); it reaches no hub and no subscription, and of the rest only `auth`, for the token.

use super::close::{fatal_code, is_too_big, too_big_close, Close};
use super::Transport;
use crate::app::App;
use crate::auth::{bearer, Identity};
use crate::config::Limits;
use crate::error::Error;
use crate::publication::ConnectionId;
use axum::extract::ws::Message as WsMessage;
use bytes::BytesMut;
use futures_util::StreamExt;
use sotong_stomp::{negotiate_heart_beat, parse_heart_beat, Command, Decoder, Frame, Version};
use std::time::Duration;
use tokio::time::Instant;

/// Reads until the first frame is whole. CONNECT must come first, and soon: within the connect
/// timeout, and before shutdown. `Err(Some(close))` ends the connection with that `ERROR`;
/// `Err(None)` means the peer went away without a word.
pub(super) async fn read_first_frame<T: Transport>(
    socket: &mut T,
    app: &App,
    decoder: &mut Decoder,
    inbox: &mut BytesMut,
) -> Result<Frame, Option<Close>> {
    let deadline = Instant::now() + Duration::from_millis(app.config().limits.connect_timeout_ms);
    loop {
        match decoder.decode(inbox) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(err) => return Err(Some(Close::fatal(fatal_code(&err), err.to_string()))),
        }
        // Shutdown first: a CONNECT that is already waiting must not start a session on a
        // server that is going away.
        let next = tokio::select! {
            biased;
            _ = app.shutdown().cancelled() => {
                return Err(Some(Close::fatal("shutting_down", "the server is shutting down")));
            }
            msg = socket.next() => msg,
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Some(Close::fatal("heartbeat_timeout", "no CONNECT frame in time")));
            }
        };
        match next {
            Some(Ok(WsMessage::Text(text))) => inbox.extend_from_slice(text.as_bytes()),
            Some(Ok(WsMessage::Binary(bytes))) => inbox.extend_from_slice(&bytes),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Err(err)) if is_too_big(&err) => return Err(Some(too_big_close(app))),
            Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Checks CONNECT: version, token, heart-beats. Returns who connected, the agreed version and
/// the agreed heart-beats (send every, expect every; milliseconds, 0 for none).
pub(super) async fn accept_connect(
    app: &App,
    frame: &Frame,
) -> Result<(Identity, Version, (u64, u64)), Close> {
    if !matches!(frame.command, Command::Connect | Command::Stomp) {
        return Err(Close::fatal(
            "malformed",
            "the first frame must be CONNECT or STOMP",
        ));
    }
    let version = Version::negotiate(frame.header("accept-version")).ok_or_else(|| {
        // STOMP 1.2 "Protocol Negotiation": the ERROR lists the server's versions in `version`.
        Close::Fatal {
            code: "malformed",
            message: "supported versions are 1.0, 1.1 and 1.2".into(),
            headers: vec![("version", "1.0,1.1,1.2".into())],
        }
    })?;
    let token = frame
        .header("Authorization")
        .or_else(|| frame.header("authorization"))
        .and_then(bearer)
        .or_else(|| frame.header("passcode").filter(|p| !p.is_empty()))
        .ok_or_else(|| {
            Close::fatal(
                "unauthorized",
                "CONNECT needs Authorization: Bearer <token> or a passcode",
            )
        })?;
    let identity = app
        .auth()
        .authenticate(token)
        .await
        .map_err(|err| match err {
            Error::TokenExpired => Close::fatal("token_expired", "the token has expired"),
            Error::Backend(_) => {
                err.log();
                Close::fatal("unavailable", "the server could not check the token")
            }
            _ => Close::fatal("unauthorized", "the token is not valid"),
        })?;
    if version == Version::V1_0 {
        // 1.0 has no heart-beating (a `heart-beat` header means nothing there): no beats either
        // way, and no silence limit.
        return Ok((identity, version, (0, 0)));
    }
    let client_beats = match frame.header("heart-beat") {
        Some(value) => parse_heart_beat(value)
            .ok_or_else(|| Close::fatal("malformed", "heart-beat must be two numbers: cx,cy"))?,
        None => (0, 0),
    };
    let limits = &app.config().limits;
    let beats = negotiate_heart_beat(
        client_beats,
        (limits.heartbeat_min_ms, limits.heartbeat_want_ms),
    );
    Ok((identity, version, beats))
}

/// The CONNECTED answer: the agreed version, the server's heart-beats, and who the client is
/// on this connection.
pub(super) fn connected_frame(
    version: Version,
    limits: &Limits,
    conn_id: ConnectionId,
    identity: &Identity,
) -> Frame {
    let mut connected = Frame::new(Command::Connected).with_header("version", version.as_str());
    // STOMP 1.0 has no heart-beats: its CONNECTED names none (and `accept_connect` agreed none).
    if version > Version::V1_0 {
        connected = connected.with_header(
            "heart-beat",
            format!("{},{}", limits.heartbeat_min_ms, limits.heartbeat_want_ms),
        );
    }
    connected
        .with_header("server", concat!("sotong/", env!("CARGO_PKG_VERSION")))
        .with_header("session", conn_id.to_string())
        .with_header("user-name", identity.user.username.clone())
}
