//! A small client for the HTTP API (`/api/*`): what a chat client needs besides the socket
//! (the room list, history, creating rooms), plus the anchor [`RoomHandle::subscribe`] uses.
//!
//! Plain `http://` only: the crate builds reqwest without a TLS backend.
//!
//! [`RoomHandle::subscribe`]: crate::RoomHandle::subscribe

use crate::error::{Error, Result};
use crate::model::{Seq, User};
use crate::token::Auth;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What `POST /api/login` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Login {
    /// The session token, for [`Client::connect`](crate::Client::connect).
    pub token: String,
    /// The signed-in user.
    pub user: User,
}

/// Which page of a room's history to read (`GET /api/rooms/{id}/messages`).
///
/// The default is the newest page. With only `after` the page goes forward from it; otherwise
/// it is the newest page below `before`. Messages are always ascending by `seq`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only messages with a smaller `seq`.
    pub before: Option<Seq>,
    /// Only messages with a larger `seq`.
    pub after: Option<Seq>,
    /// Page size (the server's default and maximum are 50 and 200).
    pub limit: Option<u32>,
}

/// What an upload sends: bytes (`Vec<u8>`, `Bytes`, `&'static [u8]`), a `tokio::fs::File`,
/// or any stream (`UploadBody::wrap_stream`). Files and streams go up as they are read.
pub use reqwest::Body as UploadBody;

/// A downloaded attachment (`GET /api/attachments/{id}`), or its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The type the server serves it as (found in its bytes when uploaded).
    pub content_type: String,
    /// The file's bytes.
    pub bytes: bytes::Bytes,
}

/// The server's error body: `{"error": code, "message": text}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
}

/// The HTTP side of one client.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    auth: Arc<Auth>,
}

impl Http {
    pub(crate) fn new(base: String, auth: Arc<Auth>) -> Self {
        Http {
            client: reqwest::Client::new(),
            base,
            auth,
        }
    }

    /// Calls `path` with the current token; on `401` refreshes the token once and retries.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T> {
        let mut token = self.auth.current();
        let mut refreshed = false;
        loop {
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(Error::transport)?;
            if response.status() == StatusCode::UNAUTHORIZED
                && !refreshed
                && self.auth.can_refresh()
            {
                token = self.auth.refresh("HTTP 401").await?;
                refreshed = true;
                continue;
            }
            return read(response).await;
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a raw body, sent once (a stream cannot be replayed after a `401`).
    pub(crate) async fn post_body<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: UploadBody,
    ) -> Result<T> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(self.auth.current())
            .body(body)
            .send()
            .await
            .map_err(Error::transport)?;
        read(response).await
    }

    /// `GET path` as bytes with their type; on `401` refreshes the token once and retries.
    pub(crate) async fn download(&self, path: &str) -> Result<Download> {
        let mut token = self.auth.current();
        let mut refreshed = false;
        loop {
            let response = self
                .client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(Error::transport)?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.auth.can_refresh() {
                token = self.auth.refresh("HTTP 401").await?;
                refreshed = true;
                continue;
            }
            if !status.is_success() {
                return read::<()>(response).await.and_then(|()| {
                    Err(Error::Protocol(format!(
                        "HTTP {status} without an error body"
                    )))
                });
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = response.bytes().await.map_err(Error::transport)?;
            return Ok(Download {
                content_type,
                bytes,
            });
        }
    }
}

/// `POST /api/login` against `base` (`http://host:port`).
pub(crate) async fn login(base: &str, username: &str, password: &str) -> Result<Login> {
    let response = reqwest::Client::new()
        .post(format!("{}/api/login", base.trim_end_matches('/')))
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await
        .map_err(Error::transport)?;
    read(response).await
}

/// Turns an answer into `T`, or into the error its status and body describe.
async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(Error::transport)?;
    if status.is_success() {
        // `204 No Content` reads as JSON `null`, which `()` accepts.
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(body)
            .map_err(|err| Error::Protocol(format!("HTTP {status}: {err}")));
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => (body.error, body.message),
        Err(_) => (
            format!("http_{}", status.as_u16()),
            String::from_utf8_lossy(&bytes).into_owned(),
        ),
    };
    if status == StatusCode::UNAUTHORIZED {
        return Err(Error::Auth(format!("{code}: {message}")));
    }
    Err(Error::Refused { code, message })
}

/// The HTTP base for a WebSocket URL: `ws://host:port/ws` → `http://host:port`.
pub(crate) fn base_from_ws(url: &str) -> Result<String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        ("http://", rest)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        ("https://", rest)
    } else {
        return Err(Error::InvalidUrl(format!(
            "{url}: expected ws://host:port/ws"
        )));
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/ws").unwrap_or(rest);
    if rest.is_empty() {
        return Err(Error::InvalidUrl(format!("{url}: no host")));
    }
    Ok(format!("{scheme}{rest}"))
}

/// The query string of a history request.
pub(crate) fn history_path(room: crate::RoomId, query: HistoryQuery) -> String {
    let mut params = Vec::new();
    if let Some(before) = query.before {
        params.push(format!("before={before}"));
    }
    if let Some(after) = query.after {
        params.push(format!("after={after}"));
    }
    if let Some(limit) = query.limit {
        params.push(format!("limit={limit}"));
    }
    let mut path = format!("/api/rooms/{room}/messages");
    if !params.is_empty() {
        path.push('?');
        path.push_str(&params.join("&"));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoomId;

    #[test]
    fn the_http_base_follows_the_socket_url() {
        assert_eq!(
            base_from_ws("ws://127.0.0.1:8080/ws").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_from_ws("wss://chat.example/ws/").unwrap(),
            "https://chat.example"
        );
        assert_eq!(
            base_from_ws("ws://chat.example/sotong/ws").unwrap(),
            "http://chat.example/sotong"
        );
        assert!(base_from_ws("http://x/ws").is_err());
        assert!(base_from_ws("ws:///ws").is_err());
    }

    #[test]
    fn history_queries() {
        assert_eq!(
            history_path(RoomId(4), HistoryQuery::default()),
            "/api/rooms/4/messages"
        );
        let query = HistoryQuery {
            after: Some(Seq(10)),
            limit: Some(5),
            ..Default::default()
        };
        assert_eq!(
            history_path(RoomId(4), query),
            "/api/rooms/4/messages?after=10&limit=5"
        );
    }
}
