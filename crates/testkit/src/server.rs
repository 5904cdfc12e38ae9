//! A real sotong server in the test's process, and the HTTP calls tests make to it. Owns the
//! test configuration and the server's temporary data dir (and, on PostgreSQL, its scratch
//! database); it knows nothing of any client library, so every crate's tests can use it.
//! With `SOTONG_TEST_CLUSTER=1` the same server is a two-node cluster behind a relay (see
//! [`crate::cluster`]), so that clients' tests run against both.

use crate::cluster::{self, ClusterData, CLUSTER_NODES};
use crate::{jwt, redis_url, ScratchDatabase, JWT_SECRET, PATIENCE};
use serde_json::{json, Value};
use sotong_server::config::{Limits, Registration};
use sotong_server::Config;
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The configuration of every test server over `data_dir`: JWTs signed with [`JWT_SECRET`],
/// password sign-up open as well (so tests can use both kinds of account), no web app, and
/// rate limits far above what a test sends, so that only tests about limits meet them.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        jwt_secret: Some(JWT_SECRET.into()),
        web_dir: Some(data_dir.join("no-web-app")),
        registration: Some(Registration::Open),
        limits: Limits {
            send_rate_per_sec: 10_000,
            send_burst: 10_000,
            rooms_per_hour: 10_000,
            members_added_per_hour: 100_000,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// What a server serves, kept between a stop and the next start: its data dir and, when it is
/// a test cluster, the cluster's database and Redis channel prefix (dropped with this value).
#[derive(Debug)]
pub struct ServerData {
    dir: tempfile::TempDir,
    cluster: Option<ClusterData>,
}

impl ServerData {
    /// The data dir (SQLite's files live here on one node).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data for the mode tests run in: a cluster's database and prefix are added in
    /// cluster mode when the data has none yet.
    async fn for_test_mode(mut self) -> ServerData {
        if self.cluster.is_none() && cluster::cluster_mode() {
            self.cluster = Some(ClusterData::create().await);
        }
        self
    }
}

impl From<tempfile::TempDir> for ServerData {
    fn from(dir: tempfile::TempDir) -> ServerData {
        ServerData { dir, cluster: None }
    }
}

/// A sotong server on an ephemeral loopback port with its own temporary data dir. It stops
/// when dropped; [`TestServer::stop`] stops it gracefully and hands back its data, so the
/// same data can be served again (a restart, as far as a client can tell).
///
/// In cluster mode (`SOTONG_TEST_CLUSTER=1`), [`TestServer::spawn`], [`TestServer::spawn_with`],
/// [`TestServer::spawn_in`] and [`TestServer::spawn_at`] start two nodes on a scratch
/// PostgreSQL database and the machine's Redis behind a round-robin relay: `addr` is the
/// relay's, `nodes` the nodes', and [`TestServer::metric`] adds up the nodes' values.
/// [`TestServer::spawn_postgres`] always starts one node.
pub struct TestServer {
    /// Where it listens (on 127.0.0.1): the server, or in cluster mode the relay in front of
    /// the nodes.
    pub addr: SocketAddr,
    /// Where each node listens: `[addr]` for one node.
    pub nodes: Vec<SocketAddr>,
    /// An HTTP client for requests the helpers below do not cover.
    pub http: reqwest::Client,
    /// Cancelling it starts the server's graceful shutdown.
    pub shutdown: CancellationToken,
    /// The server's task, until [`TestServer::stop`] has waited for it.
    pub task: Option<JoinHandle<Result<(), sotong_server::ServerError>>>,
    /// The data, until [`TestServer::stop`] hands it back.
    pub dir: Option<ServerData>,
    /// The server's own PostgreSQL database when it runs on one ([`TestServer::spawn_postgres`]);
    /// dropped after the server has stopped.
    pub database: Option<ScratchDatabase>,
}

impl TestServer {
    /// A server with [`test_config`] over a fresh data dir.
    pub async fn spawn() -> TestServer {
        Self::spawn_with(|_| {}).await
    }

    /// A server over a fresh data dir, with [`test_config`] changed by `tune`.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(dir, tune).await
    }

    /// A server on a fresh PostgreSQL database of its own ([`ScratchDatabase`]) instead of
    /// SQLite, with [`test_config`] changed by `tune`. The database is dropped with the server.
    pub async fn spawn_postgres(tune: impl FnOnce(&mut Config)) -> TestServer {
        let database = ScratchDatabase::create().await;
        let url = database.url().to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut server = Self::serve(listener, dir.into(), |config| {
            config.database_url = Some(url);
            tune(config);
        })
        .await;
        server.database = Some(database);
        server
    }

    /// Two nodes behind a relay, as in cluster mode, whatever the mode: for tests of the
    /// cluster mode itself.
    pub async fn spawn_cluster(tune: impl FnOnce(&mut Config)) -> TestServer {
        let data = ServerData {
            dir: tempfile::tempdir().expect("temp dir"),
            cluster: Some(ClusterData::create().await),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, data, tune).await
    }

    /// A server over existing data (a data dir, or what [`TestServer::stop`] handed back) on a
    /// fresh port: a restart, or a change to the data while clients of the original address
    /// cannot connect.
    pub async fn spawn_in(
        dir: impl Into<ServerData>,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let data = dir.into().for_test_mode().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, data, tune).await
    }

    /// A server on `addr` over an existing data dir: the same server, restarted, where its
    /// clients will reconnect.
    pub async fn spawn_at(
        addr: SocketAddr,
        dir: impl Into<ServerData>,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let data = dir.into().for_test_mode().await;
        let listener = TcpListener::bind(addr)
            .await
            .expect("bind the same address again");
        Self::serve(listener, data, tune).await
    }

    async fn serve(
        listener: TcpListener,
        data: ServerData,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = test_config(data.path());
        if let Some(cluster) = &data.cluster {
            return Self::serve_cluster(listener, cluster, config, tune)
                .await
                .with_data(data);
        }
        tune(&mut config);
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sotong_server::run(listener, config, shutdown.clone()));
        let server = TestServer {
            addr,
            nodes: vec![addr],
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            dir: Some(data),
            database: None,
        };
        // The listener is bound before run() is called, so requests queue until it serves.
        let (status, _) = server.get("/healthz", None).await;
        assert_eq!(status, 200, "server did not become healthy");
        server
    }

    /// [`CLUSTER_NODES`] nodes on the cluster's database and Redis prefix, each with `config`
    /// changed by `tune`, behind a relay on `listener`. Ready when every node is healthy.
    async fn serve_cluster(
        listener: TcpListener,
        cluster: &ClusterData,
        mut config: Config,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        config.database_url = Some(cluster.database.url().to_string());
        config.redis_url = Some(redis_url());
        config.redis_channel_prefix = cluster.redis_prefix.clone();
        tune(&mut config);
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let mut nodes = Vec::new();
        let mut runs = Vec::new();
        for _ in 0..CLUSTER_NODES {
            let node = TcpListener::bind("127.0.0.1:0").await.expect("bind a node");
            nodes.push(node.local_addr().expect("node addr"));
            runs.push(tokio::spawn(sotong_server::run(
                node,
                config.clone(),
                shutdown.clone(),
            )));
        }
        let relayed = CancellationToken::new();
        let relay =
            cluster::start_relay(listener, nodes.clone(), shutdown.clone(), relayed.clone());
        // Done when every node has drained; then the connections still relayed are cut and
        // the relay's listener is closed (it stopped accepting at the shutdown already).
        let task = tokio::spawn(async move {
            let mut result = Ok(());
            for run in runs {
                let ended = run.await.expect("node task");
                result = result.and(ended);
            }
            relayed.cancel();
            relay.await.expect("relay task");
            result
        });
        let server = TestServer {
            addr,
            nodes,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            dir: None,
            database: None,
        };
        // A node answers 200 once its store and its Redis connection are up.
        for node in &server.nodes {
            let healthz = format!("http://{node}/healthz");
            let deadline = tokio::time::Instant::now() + PATIENCE;
            loop {
                let status = server.http.get(&healthz).send().await.map(|r| r.status());
                if matches!(status, Ok(s) if s == 200) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {node} did not become healthy: {status:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        server
    }

    fn with_data(mut self, data: ServerData) -> TestServer {
        self.dir = Some(data);
        self
    }

    /// Stops the server, waits for it to drain, and hands back its data (a scratch database
    /// of [`TestServer::spawn_postgres`], if it has one, is dropped now; a cluster's stays
    /// with the data).
    pub async fn stop(mut self) -> ServerData {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("drained in time")
                .expect("server task")
                .expect("server result");
        }
        self.dir.take().expect("data dir")
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

    /// `GET path`, as [`TestServer::request`].
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body, as [`TestServer::request`].
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// The Prometheus text of `/metrics`; of each node in turn in cluster mode, each after a
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

    /// One gauge or counter from `/metrics` (a series without labels), added up over the
    /// nodes in cluster mode (so that a count of connections or subscriptions is the
    /// cluster's, whichever node holds them); panics when absent.
    pub async fn metric(&self, name: &str) -> i64 {
        let mut sum = 0;
        for node in &self.nodes {
            let text = self.node_metrics(*node).await;
            sum += metric_value(&text, name)
                .unwrap_or_else(|| panic!("no metric {name} on node {node} in:\n{text}"));
        }
        sum
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

    /// Like [`TestServer::user`], taking the name by value (for concurrent sign-ups).
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

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A user of a [`TestServer`] and the bearer token it signs in with.
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

    #[tokio::test]
    async fn a_test_cluster_puts_consecutive_websockets_on_different_nodes_and_delivers_across() {
        use crate::{carries_text, topic_messages, Stomp};
        let server = TestServer::spawn_cluster(|_| {}).await;
        assert_eq!(server.nodes.len(), CLUSTER_NODES);
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let room = server.direct(&alice, &bob).await;
        let mut alices = Stomp::connect(&server, &alice.token).await;
        let mut bobs = Stomp::connect(&server, &bob.token).await;
        for node in &server.nodes {
            let text = server.node_metrics(*node).await;
            assert_eq!(
                metric_value(&text, "sotong_connections"),
                Some(1),
                "node {node}"
            );
        }
        assert_eq!(server.metric("sotong_connections").await, 2);

        alices
            .subscribe("room", &format!("/topic/rooms/{room}"))
            .await;
        bobs.send_text(room, "across nodes", "sent").await;
        let frames = alices.until(|f| carries_text(f, "across nodes")).await;
        assert_eq!(
            topic_messages(&frames),
            [(room, 1, "across nodes".to_string())]
        );

        // A restart keeps the cluster's database: the room and its message are still there.
        let addr = server.addr;
        let data = server.stop().await;
        let server = TestServer::spawn_at(addr, data, |_| {}).await;
        let history = server.history(&bob, room, "").await;
        assert_eq!(history.len(), 1, "{history:?}");
        assert!(server.stop().await.cluster.is_some());
    }

    #[test]
    fn the_test_config_is_valid_and_keeps_its_data_in_the_dir() {
        let config = test_config(Path::new("/tmp/somewhere"));
        config.validate().expect("valid");
        assert_eq!(config.data_dir, Path::new("/tmp/somewhere"));
        assert_eq!(config.jwt_secret(), Some(JWT_SECRET));
    }
}
