//! The HTTP side of one sotong server, wherever it runs (in the test's process or as a
//! process of its own): its address, the calls tests make (users, rooms, messages, history)
//! and its `/metrics`. [`crate::TestServer`] and [`crate::Node`] both deref to one.

use crate::jwt;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// A server's address and an HTTP client for it, with the calls tests share.
#[derive(Debug, Clone)]
pub struct HttpApi {
    /// Where the server listens (on 127.0.0.1).
    pub addr: SocketAddr,
    /// An HTTP client for requests the helpers below do not cover.
    pub http: reqwest::Client,
    /// Where each node listens: `[addr]` for one server; the nodes behind `addr` for a test
    /// cluster (their `/metrics` are read one by one, see [`HttpApi::metric`]).
    pub nodes: Vec<SocketAddr>,
}

impl HttpApi {
    /// The API of the server at `addr`.
    pub fn new(addr: SocketAddr) -> HttpApi {
        Self::with_nodes(addr, vec![addr])
    }

    /// The API of a cluster reached at `addr` (a relay, a load balancer) whose nodes listen
    /// on `nodes`.
    pub fn with_nodes(addr: SocketAddr, nodes: Vec<SocketAddr>) -> HttpApi {
        HttpApi {
            addr,
            http: reqwest::Client::new(),
            nodes,
        }
    }

    /// The HTTP URL of `path` on this server (`""`: the server's base URL).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The URL of the STOMP WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Sends a request with an optional bearer token and JSON body; returns the status and the
    /// body as JSON (`Null` when empty, a JSON string when it is not JSON).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// `GET path`, as [`HttpApi::request`].
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body, as [`HttpApi::request`].
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// The Prometheus text of `/metrics`; of each node in turn for a cluster, each after a
    /// `# node ADDR` comment line.
    pub async fn metrics(&self) -> String {
        if let [node] = self.nodes.as_slice() {
            return self.node_metrics(*node).await;
        }
        let mut all = String::new();
        for node in &self.nodes {
            all.push_str(&format!("# node {node}\n"));
            all.push_str(&self.node_metrics(*node).await);
        }
        all
    }

    /// The Prometheus text of one node's `/metrics`.
    pub async fn node_metrics(&self, node: SocketAddr) -> String {
        self.http
            .get(format!("http://{node}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// One gauge or counter of one node (a series without labels); panics when absent.
    pub async fn node_metric(&self, node: SocketAddr, name: &str) -> i64 {
        let text = self.node_metrics(node).await;
        metric_value(&text, name)
            .unwrap_or_else(|| panic!("no metric {name} on node {node} in:\n{text}"))
    }

    /// One gauge or counter from `/metrics` (a series without labels), added up over the
    /// nodes of a cluster (so that a count of connections or subscriptions is the cluster's,
    /// whichever node holds them); panics when absent.
    pub async fn metric(&self, name: &str) -> i64 {
        let mut sum = 0;
        for node in &self.nodes {
            sum += self.node_metric(*node, name).await;
        }
        sum
    }

    /// Polls [`HttpApi::metric`] until `name` satisfies `wanted` (described by `what` in the
    /// failure): for work the server does after answering, such as a publication; panics
    /// after [`PATIENCE`](crate::PATIENCE).
    pub async fn until_metric(&self, name: &str, what: &str, wanted: impl Fn(i64) -> bool) {
        crate::until_value(
            || self.metric(name),
            wanted,
            |value| format!("{name} stayed at {value}, not {what}"),
        )
        .await;
    }

    /// A user signed in with an application JWT (created on first use).
    pub async fn user(&self, username: &str) -> TestUser {
        let token = jwt(username, 3600);
        let (status, me) = self.get("/api/me", Some(&token)).await;
        assert_eq!(status, 200, "{me}");
        TestUser {
            id: me["id"].as_i64().expect("id"),
            username: username.to_string(),
            token,
        }
    }

    /// Like [`HttpApi::user`], taking the name by value (for concurrent sign-ups).
    pub async fn user_named(&self, username: String) -> TestUser {
        self.user(&username).await
    }

    /// `POST /api/register`, as it answers (tests of sign-up look at refusals too).
    pub async fn register(&self, username: &str, password: &str) -> (u16, Value) {
        let credentials = json!({"username": username, "password": password});
        self.post("/api/register", None, credentials).await
    }

    /// `POST /api/login`, as it answers.
    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let credentials = json!({"username": username, "password": password});
        self.post("/api/login", None, credentials).await
    }

    /// A user who signed up with a password and logged in: the token is a login session
    /// token (which logout revokes), not a JWT.
    pub async fn password_user(&self, username: &str, password: &str) -> TestUser {
        let (status, user) = self.register(username, password).await;
        assert_eq!(status, 201, "{user}");
        let (status, login) = self.login(username, password).await;
        assert_eq!(status, 200, "{login}");
        TestUser {
            id: user["id"].as_i64().expect("id"),
            username: username.into(),
            token: login["token"].as_str().expect("token").into(),
        }
    }

    /// The direct room of two users (opened by `a`, or the one they already have).
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> i64 {
        let (status, room) = self
            .post(
                "/api/rooms/direct",
                Some(&a.token),
                json!({"username": b.username}),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {room}");
        room["id"].as_i64().expect("room id")
    }

    /// A group of `owner` and `members`.
    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> i64 {
        let names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
        let (status, room) = self
            .post(
                "/api/rooms",
                Some(&owner.token),
                json!({"name": name, "members": names}),
            )
            .await;
        assert_eq!(status, 201, "{room}");
        room["id"].as_i64().expect("room id")
    }

    /// Posts over HTTP as `user`; returns the stored message.
    pub async fn post_message(&self, user: &TestUser, room: i64, text: &str) -> Value {
        let (status, message) = self
            .post(
                &format!("/api/rooms/{room}/messages"),
                Some(&user.token),
                json!({"text": text}),
            )
            .await;
        assert_eq!(status, 201, "{message}");
        message
    }

    /// Edits `user`'s message `seq` over HTTP (`PATCH`); returns the message as it is now.
    pub async fn edit_message(&self, user: &TestUser, room: i64, seq: u64, text: &str) -> Value {
        let (status, message) = self
            .request(
                reqwest::Method::PATCH,
                &format!("/api/rooms/{room}/messages/{seq}"),
                Some(&user.token),
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(status, 200, "{message}");
        message
    }

    /// Deletes `user`'s message `seq` over HTTP; returns the tombstone.
    pub async fn delete_message(&self, user: &TestUser, room: i64, seq: u64) -> Value {
        let (status, message) = self
            .request(
                reqwest::Method::DELETE,
                &format!("/api/rooms/{room}/messages/{seq}"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{message}");
        message
    }

    /// A page of a room's history as `user` sees it; `query` is `""` or starts with `?`.
    pub async fn history(&self, user: &TestUser, room: i64, query: &str) -> Vec<Value> {
        let (status, messages) = self
            .get(
                &format!("/api/rooms/{room}/messages{query}"),
                Some(&user.token),
            )
            .await;
        assert_eq!(status, 200, "{messages}");
        messages.as_array().expect("array").clone()
    }
}

/// A user of a server and the bearer token it signs in with.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The server's id of the user.
    pub id: i64,
    /// The name the user signed up or signed in with.
    pub username: String,
    /// A JWT or a login session token.
    pub token: String,
}

/// The value of the series `name` (without labels) in Prometheus text, as a whole number.
fn metric_value(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_read_from_its_own_line_only() {
        let text = "# HELP sotong_connections Open connections.\n\
                    sotong_connections 3\n\
                    sotong_connections_total 17\n\
                    sotong_latency_seconds{quantile=\"0.5\"} 0.25\n";
        assert_eq!(metric_value(text, "sotong_connections"), Some(3));
        assert_eq!(metric_value(text, "sotong_connections_total"), Some(17));
        assert_eq!(metric_value(text, "sotong_missing"), None);
    }
}
