//! A real sotong server in the test's process (its HTTP calls are [`HttpApi`]'s). Owns the
//! test configuration and the server's temporary data dir (and, on PostgreSQL, its scratch
//! database); it knows nothing of any client library, so every crate's tests can use it.
//! With `SOTONG_TEST_CLUSTER=1` the same server is a two-node cluster behind a relay (see
//! [`crate::cluster_mode`]), so that clients' tests run against both.

use crate::cluster_mode::{self, ClusterData, CLUSTER_NODES};
use crate::{
    redis_admin, redis_url, unique_redis_prefix, HttpApi, ScratchDatabase, TcpGate, JWT_SECRET,
    PATIENCE,
};
use sotong_server::config::{Limits, Registration};
use sotong_server::Config;
use std::net::SocketAddr;
use std::ops::Deref;
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
        // Presence changes heard soon: tests await them rather than the default seconds.
        presence_grace_ms: 500,
        presence_interval_ms: 200,
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

    /// Whether this is a test cluster's data (its database and Redis prefix).
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The data for the mode tests run in: a cluster's database and prefix are added in
    /// cluster mode when the data has none yet.
    async fn for_test_mode(mut self) -> ServerData {
        if self.cluster.is_none() && cluster_mode::cluster_mode() {
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

/// A sotong server on an ephemeral loopback port with its own temporary data dir. It derefs
/// to its [`HttpApi`] (address, HTTP calls, `/metrics`). It stops when dropped;
/// [`TestServer::stop`] stops it gracefully and hands back its data, so the same data can be
/// served again (a restart, as far as a client can tell).
///
/// In cluster mode (`SOTONG_TEST_CLUSTER=1`), [`TestServer::spawn`], [`TestServer::spawn_with`],
/// [`TestServer::spawn_in`] and [`TestServer::spawn_at`] start two nodes on a scratch
/// PostgreSQL database and the machine's Redis behind a round-robin relay: `addr` is the
/// relay's, `nodes` the nodes', and [`HttpApi::metric`] adds up the nodes' values.
/// [`TestServer::spawn_postgres`] always starts one node.
pub struct TestServer {
    /// Its HTTP API (and its address, `addr`), which the server derefs to.
    api: HttpApi,
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

    /// A server on a fresh PostgreSQL database of its own that it reaches only through a
    /// [`TcpGate`], which the test cuts and restores to take the database away and bring it
    /// back. The database is dropped with the server.
    pub async fn spawn_postgres_behind_gate(
        tune: impl FnOnce(&mut Config),
    ) -> (TestServer, TcpGate) {
        let database = ScratchDatabase::create().await;
        let gate = TcpGate::open(database.server_addr()).await;
        let url = database.url_through(gate.addr());
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut server = Self::serve(listener, dir.into(), |config| {
            config.database_url = Some(url);
            tune(config);
        })
        .await;
        server.database = Some(database);
        (server, gate)
    }

    /// Two nodes of one cluster: on one fresh PostgreSQL database (held, and dropped, by the
    /// first node) and the machine's Redis ([`redis_url`]) under a channel prefix of their
    /// own ([`unique_redis_prefix`]), each with [`test_config`] changed by `tune`. What one
    /// node commits reaches the other's connections through Redis.
    ///
    /// Panics, saying how to start it, when Redis does not answer.
    pub async fn spawn_two_nodes(tune: impl Fn(&mut Config)) -> (TestServer, TestServer) {
        redis_admin().await;
        let redis = redis_url();
        let prefix = unique_redis_prefix();
        let on_both = |config: &mut Config| {
            config.redis_url = Some(redis.clone());
            config.redis_channel_prefix = prefix.clone();
            tune(config);
        };
        let one = Self::spawn_postgres(on_both).await;
        let database = one
            .database
            .as_ref()
            .expect("spawn_postgres gives the node its database")
            .url()
            .to_string();
        let two = Self::spawn_with(|config| {
            on_both(config);
            config.database_url = Some(database);
        })
        .await;
        (one, two)
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

    /// A server on `addr` over existing data: the same server, restarted, where its clients
    /// will reconnect.
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
            api: HttpApi::new(addr),
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
            cluster_mode::start_relay(listener, nodes.clone(), shutdown.clone(), relayed.clone());
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
            api: HttpApi::with_nodes(addr, nodes),
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
}

impl Deref for TestServer {
    type Target = HttpApi;

    fn deref(&self) -> &HttpApi {
        &self.api
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(
                server.node_metric(*node, "sotong_connections").await,
                1,
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
        assert!(server.stop().await.is_cluster());
    }

    #[test]
    fn the_test_config_is_valid_and_keeps_its_data_in_the_dir() {
        let config = test_config(Path::new("/tmp/somewhere"));
        config.validate().expect("valid");
        assert_eq!(config.data_dir, Path::new("/tmp/somewhere"));
        assert_eq!(config.jwt_secret(), Some(JWT_SECRET));
    }
}

/// The store a whole-server test runs on. [`on_both_stores!`](crate::on_both_stores) runs a
/// test once with each, so that every feature is shown on every backend without each suite
/// carrying its own copy of this switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// The embedded default: [`TestServer::spawn_with`].
    Sqlite,
    /// A scratch PostgreSQL database of the test's own: [`TestServer::spawn_postgres`].
    Postgres,
}

impl StoreBackend {
    /// Starts a server on this store, its configuration tuned by `tune`.
    pub async fn spawn(self, tune: impl FnOnce(&mut Config)) -> TestServer {
        match self {
            StoreBackend::Sqlite => TestServer::spawn_with(tune).await,
            StoreBackend::Postgres => TestServer::spawn_postgres(tune).await,
        }
    }
}

/// Runs each named `async fn name(store: StoreBackend)` of the calling test file once on
/// SQLite (module `on_sqlite`) and once on PostgreSQL (module `on_postgres`).
#[macro_export]
macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::StoreBackend::Sqlite).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::StoreBackend::Postgres).await;
                }
            )+
        }
    };
}
