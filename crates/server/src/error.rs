//! The server's error type: errors as data, named after what the caller can do about them.
//!
//! Handlers and the session return [`Error`]; it is turned into an HTTP answer (`IntoResponse`)
//! or a STOMP error event in exactly one place each. Backend failures carry their source for
//! the operator's log and show the client only a safe message.
//!
//! It reaches no other part of the server: the parts convert their own errors into it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule (bad username, empty text, …).
    #[error("{0}")]
    Invalid(String),
    /// Something in the request is over a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// No token, or a token that is not valid.
    #[error("missing or invalid token")]
    Unauthorized,
    /// A login with a wrong password or an unknown username (the same answer for both, so the
    /// answer does not tell which usernames exist).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// A valid JWT names a user that signed up with a password: identities from the
    /// application's JWTs and from password sign-up never merge, or whoever registered a name
    /// first would own the application's user of that name.
    #[error("this username belongs to an account created by password sign-up; a JWT cannot sign into it")]
    IdentityConflict,
    /// A password change named a wrong current password (`403 wrong_password`). Not a `401`:
    /// the caller's token is fine, and a client must not sign it out for a typo.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The account has no password to change: it signs in with the application's JWTs
    /// (`409 no_password`).
    #[error("this account signs in with the application's tokens and has no password")]
    NoPassword,
    /// The operator turned open sign-up off (`--registration closed`).
    #[error("sign-up is closed on this server")]
    RegistrationClosed,
    /// The token was valid once and has expired: refresh it.
    #[error("the token has expired")]
    TokenExpired,
    /// The caller may not do this (not a member of the room, …).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// It exists already (a taken username).
    #[error("{0}")]
    Conflict(String),
    /// Only a message's author may edit or delete it (`403 not_author`).
    #[error("{0}")]
    NotAuthor(String),
    /// The message was deleted; a tombstone cannot be edited (`409 deleted`).
    #[error("{0}")]
    Deleted(String),
    /// The server's edit window (`--edit-window-secs`) has passed for this message
    /// (`403 edit_window_closed`).
    #[error("{0}")]
    EditWindowClosed(String),
    /// A reply names a message of another room (`400 reply_other_room`).
    #[error("{0}")]
    ReplyOtherRoom(String),
    /// A reply names no message of the room (`404 reply_not_found`).
    #[error("{0}")]
    ReplyNotFound(String),
    /// The text mentions a registered user who is not a member of the room
    /// (`400 mention_not_member`); the message names them.
    #[error("{0}")]
    MentionNotMember(String),
    /// A reaction's emoji is empty or holds spaces, control characters, ASCII letters or
    /// digits (`400 invalid_emoji`).
    #[error("{0}")]
    InvalidEmoji(String),
    /// An upload claims to be an image (by its name or `Content-Type`) and its bytes are not
    /// one (`415 type_mismatch`).
    #[error("{0}")]
    TypeMismatch(String),
    /// An uploaded image cannot be decoded (`400 bad_image`).
    #[error("{0}")]
    BadImage(String),
    /// An uploaded image has more pixels than the server decodes (`413 image_too_large`).
    #[error("{0}")]
    ImageTooLarge(String),
    /// A message names an attachment that is not the sender's unsent upload to the room
    /// (`400 invalid_attachment`).
    #[error("{0}")]
    InvalidAttachment(String),
    /// A push subscription that cannot be used: an endpoint off the allow-list, keys of the
    /// wrong size (`400 invalid_subscription`).
    #[error("{0}")]
    InvalidSubscription(String),
    /// Web Push is turned off on this server (`404 push_disabled`).
    #[error("Web Push is turned off on this server")]
    PushDisabled,
    /// Too many requests in too little time; slow down.
    #[error("{0}")]
    RateLimited(String),
    /// Too many requests in too little time, and when the next one will be accepted (sent as
    /// `Retry-After`, in whole seconds, rounded up).
    #[error("{message}")]
    Throttled {
        /// Human-readable text.
        message: String,
        /// How long until a retry can succeed.
        retry_after: std::time::Duration,
    },
    /// The server is shutting down and takes no new connections (`503 shutting_down`): a
    /// client that reconnects at once must reach the server that replaces this one, not a
    /// session here that is about to be cut.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The store or broker failed; the request may be retried.
    #[error("the server could not complete the request")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The machine-readable code sent to clients (`error` in HTTP, `code` in STOMP events).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::TooLarge(_) => "too_large",
            Error::Unauthorized => "unauthorized",
            Error::InvalidCredentials => "invalid_credentials",
            Error::IdentityConflict => "identity_conflict",
            Error::RegistrationClosed => "registration_closed",
            Error::WrongPassword => "wrong_password",
            Error::NoPassword => "no_password",
            Error::TokenExpired => "token_expired",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::NotAuthor(_) => "not_author",
            Error::Deleted(_) => "deleted",
            Error::EditWindowClosed(_) => "edit_window_closed",
            Error::ReplyOtherRoom(_) => "reply_other_room",
            Error::ReplyNotFound(_) => "reply_not_found",
            Error::MentionNotMember(_) => "mention_not_member",
            Error::InvalidEmoji(_) => "invalid_emoji",
            Error::TypeMismatch(_) => "type_mismatch",
            Error::BadImage(_) => "bad_image",
            Error::ImageTooLarge(_) => "image_too_large",
            Error::InvalidAttachment(_) => "invalid_attachment",
            Error::InvalidSubscription(_) => "invalid_subscription",
            Error::PushDisabled => "push_disabled",
            Error::ShuttingDown => "shutting_down",
            Error::RateLimited(_) | Error::Throttled { .. } => "rate_limited",
            Error::Backend(_) => "unavailable",
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_)
            | Error::ReplyOtherRoom(_)
            | Error::MentionNotMember(_)
            | Error::InvalidEmoji(_) => StatusCode::BAD_REQUEST,
            Error::ReplyNotFound(_) => StatusCode::NOT_FOUND,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized
            | Error::TokenExpired
            | Error::InvalidCredentials
            | Error::IdentityConflict => StatusCode::UNAUTHORIZED,
            Error::RegistrationClosed | Error::WrongPassword => StatusCode::FORBIDDEN,
            Error::NoPassword => StatusCode::CONFLICT,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) | Error::Deleted(_) => StatusCode::CONFLICT,
            Error::NotAuthor(_) | Error::EditWindowClosed(_) => StatusCode::FORBIDDEN,
            Error::TypeMismatch(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::BadImage(_) | Error::InvalidAttachment(_) | Error::InvalidSubscription(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::PushDisabled => StatusCode::NOT_FOUND,
            Error::ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RateLimited(_) | Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::ShuttingDown | Error::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Logs a backend failure once, with its source chain; client errors are not the operator's concern.
    pub fn log(&self) {
        if let Error::Backend(source) = self {
            tracing::error!(error = %source, "backend failure");
        }
    }

    /// A throttle's refusal: `rate_limited`, with when to retry.
    pub fn throttled(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Error::Throttled {
            message: message.into(),
            retry_after,
        }
    }

    /// Wraps a backend failure.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend(Box::new(err))
    }
}

impl From<crate::push::PushError> for Error {
    fn from(err: crate::push::PushError) -> Self {
        match err {
            crate::push::PushError::Invalid(why) => Error::InvalidSubscription(why),
            crate::push::PushError::Store(err) => err.into(),
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict(what) => Error::Conflict(what),
            StoreError::NotMember => Error::Forbidden("you are not a member of this room".into()),
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::NotAuthor => Error::NotAuthor(err_text(&StoreError::NotAuthor)),
            StoreError::Deleted => Error::Deleted(err_text(&StoreError::Deleted)),
            StoreError::EditWindowClosed => {
                Error::EditWindowClosed(err_text(&StoreError::EditWindowClosed))
            }
            StoreError::ReplyNotFound => Error::ReplyNotFound(err_text(&StoreError::ReplyNotFound)),
            StoreError::ReplyDeleted => Error::Deleted(err_text(&StoreError::ReplyDeleted)),
            StoreError::TooManyReactions => {
                Error::TooLarge(err_text(&StoreError::TooManyReactions))
            }
            StoreError::InvalidAttachment(what) => Error::InvalidAttachment(what),
            StoreError::Backend(e) => Error::Backend(e),
        }
    }
}

/// The store's own wording of a refusal, for the client.
fn err_text(err: &crate::store::StoreError) -> String {
    err.to_string()
}

/// The JSON error body of the contract: `{"error": code, "message": text}`.
#[derive(Debug, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: &'static str,
    /// Human-readable text.
    pub message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match &self {
            Error::Throttled { retry_after, .. } => Some(retry_after.as_secs_f64().ceil().max(1.0)),
            Error::RateLimited(_) => Some(60.0),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs as u64),
            );
        }
        response
    }
}
