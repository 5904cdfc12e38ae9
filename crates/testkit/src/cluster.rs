//! Several `sotong serve` processes as a deployment runs them ([`Cluster`]): one PostgreSQL
//! database of the test's own ([`ScratchDatabase`]), one Redis (the machine's under a channel
//! prefix of the cluster's own, or a [`crate::RedisProcess`] of the test's own), each node on
//! an ephemeral loopback port. A test may SIGKILL a node, stop it, and start it again on the
//! same address. Every node is killed, and the database dropped, when the cluster is.
//!
//! The binary is the caller's to name (`env!("CARGO_BIN_EXE_sotong")` in the binary crate's
//! tests): only that crate's tests know where Cargo built it.

use crate::{HttpApi, ScratchDatabase, ServedBinary, JWT_SECRET, PATIENCE};
use serde_json::Value;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One `sotong serve` process of a [`Cluster`]; derefs to its [`HttpApi`].
#[derive(Debug)]
pub struct Node {
    api: HttpApi,
    /// The process, while it runs.
    served: Option<ServedBinary>,
    /// The Redis URL this node is given.
    redis_url: String,
}

impl Node {
    /// Whether its process runs (it was not killed or stopped since it last started).
    pub fn is_running(&self) -> bool {
        self.served.is_some()
    }

    /// Polls `/metrics` until `name` satisfies `wanted` (described by `what` in the failure);
    /// panics after [`PATIENCE`].
    pub async fn until_metric(&self, name: &str, what: &str, wanted: impl Fn(i64) -> bool) {
        crate::until_value(
            || self.metric(name),
            wanted,
            |value| format!("{name} on {} stayed at {value}, not {what}", self.addr),
        )
        .await;
    }

    /// Waits until the node listens on Redis for at least `users` users: from then on, what
    /// another node publishes to them reaches this one.
    pub async fn until_listening(&self, users: i64) {
        self.until_metric("sotong_redis_subscribed_users", "enough", |n| n >= users)
            .await;
    }

    /// Waits until `/healthz` reports the store and the broker `ok`.
    pub async fn until_healthy(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, health) = self.get("/healthz", None).await;
            if status == 200 && health["broker"] == "ok" && health["store"] == "ok" {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} is not healthy: {status} {health}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `/healthz` as it answers now.
    pub async fn health(&self) -> (u16, Value) {
        self.get("/healthz", None).await
    }
}

impl Deref for Node {
    type Target = HttpApi;

    fn deref(&self) -> &HttpApi {
        &self.api
    }
}

/// Nodes of one deployment on one scratch database (see the module doc).
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    binary: PathBuf,
    /// The TOML file every node is given (its Redis channel prefix).
    config: PathBuf,
    /// The nodes' data dir (unused on PostgreSQL, but never the working directory's).
    dir: tempfile::TempDir,
    /// Flags every node gets beyond the cluster's own.
    extra_args: Vec<String>,
    /// Dropped after the nodes are killed (see `Drop`).
    database: ScratchDatabase,
}

impl Cluster {
    /// Starts one node per entry of `redis_urls`, each reaching Redis through its entry (the
    /// same Redis, perhaps by different routes), one after the other (the first applies the
    /// migrations), with `extra_args` added to each node's `sotong serve` command. Each node
    /// signs JWTs with [`JWT_SECRET`], has open sign-up and rate limits far above what a test
    /// sends; the cluster's channel prefix is its own. Returns once every node is healthy
    /// (its store and Redis both answer).
    pub async fn start(
        binary: impl AsRef<Path>,
        redis_urls: &[String],
        extra_args: &[&str],
    ) -> Cluster {
        let database = ScratchDatabase::create().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("sotong.toml");
        std::fs::write(
            &config,
            format!(
                "redis_channel_prefix = \"{}\"\n",
                crate::unique_redis_prefix()
            ),
        )
        .expect("config file");
        let mut cluster = Cluster {
            nodes: Vec::with_capacity(redis_urls.len()),
            binary: binary.as_ref().to_path_buf(),
            config,
            dir,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            database,
        };
        for url in redis_urls {
            let served = cluster.serve("127.0.0.1:0", url);
            let addr: SocketAddr = served.addr.parse().expect("a socket address");
            cluster.nodes.push(Node {
                api: HttpApi::new(addr),
                served: Some(served),
                redis_url: url.clone(),
            });
        }
        for node in &cluster.nodes {
            node.until_healthy().await;
        }
        cluster
    }

    /// Node `index` (in the order of `redis_urls`).
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// Every node.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The shared database's URL, for a test that reads or writes the store itself.
    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// Kills node `index` with SIGKILL and reaps it: no shutdown, no goodbye to its clients
    /// (their sockets are reset), whatever it had not published lost.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut served) = self.nodes[index].served.take() {
            let _ = served.child.kill();
            let _ = served.child.wait();
        }
    }

    /// Stops node `index` as an operator does (SIGTERM: a graceful shutdown) and waits for it
    /// to exit, at most [`PATIENCE`] (then it is killed, and the test fails).
    pub fn stop(&mut self, index: usize) {
        let Some(mut served) = self.nodes[index].served.take() else {
            return;
        };
        let signalled = Command::new("kill")
            .args(["-TERM", &served.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = std::time::Instant::now() + PATIENCE;
        let exited = signalled
            && loop {
                match served.child.try_wait() {
                    Ok(Some(_)) => break true,
                    Ok(None) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => break false,
                }
            };
        if !exited {
            let _ = served.child.kill();
            let _ = served.child.wait();
            panic!("node {index} did not stop within {PATIENCE:?} of SIGTERM");
        }
    }

    /// Starts node `index` again, on the address it had (its clients reconnect where they
    /// were), once it was killed or stopped; returns once it is healthy.
    pub async fn restart(&mut self, index: usize) {
        self.kill(index);
        let addr = self.nodes[index].addr.to_string();
        let url = self.nodes[index].redis_url.clone();
        let served = self.serve(&addr, &url);
        self.nodes[index].served = Some(served);
        self.nodes[index].until_healthy().await;
    }

    /// Spawns `sotong serve` on `listen` with Redis at `redis_url`; returns once it serves.
    fn serve(&self, listen: &str, redis_url: &str) -> ServedBinary {
        ServedBinary::start(
            Command::new(&self.binary)
                .arg("serve")
                .args(["--listen", listen])
                .arg("--config")
                .arg(&self.config)
                .arg("--data-dir")
                .arg(self.dir.path())
                .args(["--database-url", self.database.url()])
                .args(["--redis-url", redis_url])
                .args(["--registration", "open"])
                .args(["--send-rate", "100000", "--send-burst", "100000"])
                .args(&self.extra_args)
                .env("SOTONG_JWT_SECRET", JWT_SECRET)
                .env_remove("RUST_LOG")
                .stderr(Stdio::null()),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Before the database is dropped (a field, after this): a node still connected would
        // only be cut off by the forced drop, but a node left running would outlive the test.
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}
