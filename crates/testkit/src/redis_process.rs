//! A Redis server of the test's own ([`RedisProcess`]): a `redis-server` process on a free
//! loopback port, without persistence, that a test may kill and start again on the same port
//! (a Redis restart, as the nodes see it) without touching the machine's Redis, which others
//! use. Killed when dropped.

use crate::PATIENCE;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `redis-server` binary: `SOTONG_TEST_REDIS_SERVER`, or Debian's.
fn redis_server_binary() -> PathBuf {
    std::env::var_os("SOTONG_TEST_REDIS_SERVER")
        .map_or_else(|| PathBuf::from("/usr/bin/redis-server"), PathBuf::from)
}

/// A `redis-server` process of the test's own on 127.0.0.1.
#[derive(Debug)]
pub struct RedisProcess {
    port: u16,
    /// The process while it runs.
    child: Option<Child>,
    /// Its working directory (nothing is written there: no RDB, no AOF).
    dir: tempfile::TempDir,
}

impl RedisProcess {
    /// Starts `redis-server` on a free loopback port and waits until it answers `PING`.
    ///
    /// Panics, saying how to get one, when `redis-server` cannot be started.
    pub async fn start() -> RedisProcess {
        // The port is free when asked; another process may take it before redis-server binds
        // it, so a start that does not answer is tried again on another port.
        for _ in 0..5 {
            let mut redis = RedisProcess {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().expect("temp dir"),
            };
            redis.spawn();
            if redis.answers_within(PATIENCE).await {
                return redis;
            }
        }
        panic!("redis-server did not answer on any of five free ports");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same after [`RedisProcess::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it with SIGKILL and reaps it: every connection to it is cut at once, and nothing
    /// listens on its port until [`RedisProcess::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: it keeps nothing) and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        assert!(
            self.answers_within(PATIENCE).await,
            "redis-server did not start again on port {}",
            self.port
        );
    }

    fn spawn(&mut self) {
        let binary = redis_server_binary();
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--logfile", ""])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}). These tests need a Redis server binary: install \
                     Debian's redis-server, or point SOTONG_TEST_REDIS_SERVER at one",
                    binary.display()
                )
            });
        self.child = Some(child);
    }

    /// Whether it answers `PING` before `patience` runs out (or its process exits).
    async fn answers_within(&mut self, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return false;
                }
            }
            let ping = async {
                let mut connection = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), ping).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
