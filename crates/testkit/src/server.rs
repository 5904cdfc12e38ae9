//! A real sotong server in the test's process (its HTTP calls are [`HttpApi`]'s). Owns the
//! test configuration and the server's temporary data dir (and, on PostgreSQL, its scratch
//! database); it knows nothing of any client library, so every crate's tests can use it.

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

/// A sotong server on an ephemeral loopback port with its own temporary data dir. It derefs
/// to its [`HttpApi`] (address, HTTP calls, `/metrics`). It stops when dropped;
/// [`TestServer::stop`] stops it gracefully and hands back the data dir, so the
/// same data can be served again (a restart, as far as a client can tell).
pub struct TestServer {
    /// Its HTTP API (and its address, `addr`), which the server derefs to.
    api: HttpApi,
    /// Cancelling it starts the server's graceful shutdown.
    pub shutdown: CancellationToken,
    /// The server's task, until [`TestServer::stop`] has waited for it.
    pub task: Option<JoinHandle<Result<(), sotong_server::ServerError>>>,
    /// The data dir, until [`TestServer::stop`] hands it back.
    pub dir: Option<tempfile::TempDir>,
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
        let mut server = Self::serve(listener, dir, |config| {
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
        let mut server = Self::serve(listener, dir, |config| {
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

    /// A server over an existing data dir on a fresh port: a restart, or a change to the data
    /// while clients of the original address cannot connect.
    pub async fn spawn_in(dir: tempfile::TempDir, tune: impl FnOnce(&mut Config)) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, dir, tune).await
    }

    /// A server on `addr` over an existing data dir: the same server, restarted, where its
    /// clients will reconnect.
    pub async fn spawn_at(
        addr: SocketAddr,
        dir: tempfile::TempDir,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let listener = TcpListener::bind(addr)
            .await
            .expect("bind the same address again");
        Self::serve(listener, dir, tune).await
    }

    async fn serve(
        listener: TcpListener,
        dir: tempfile::TempDir,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = test_config(dir.path());
        tune(&mut config);
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sotong_server::run(listener, config, shutdown.clone()));
        let server = TestServer {
            api: HttpApi::new(addr),
            shutdown,
            task: Some(task),
            dir: Some(dir),
            database: None,
        };
        // The listener is bound before run() is called, so requests queue until it serves.
        let (status, _) = server.get("/healthz", None).await;
        assert_eq!(status, 200, "server did not become healthy");
        server
    }

    /// Stops the server, waits for it to drain, and hands back its data dir (a scratch
    /// database, if it has one, is dropped now).
    pub async fn stop(mut self) -> tempfile::TempDir {
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

    #[test]
    fn the_test_config_is_valid_and_keeps_its_data_in_the_dir() {
        let config = test_config(Path::new("/tmp/somewhere"));
        config.validate().expect("valid");
        assert_eq!(config.data_dir, Path::new("/tmp/somewhere"));
        assert_eq!(config.jwt_secret(), Some(JWT_SECRET));
    }
}
