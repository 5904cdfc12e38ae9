//! What the workspace's tests share, so that each suite tests its own crate instead of
//! carrying its own copy of the harness: a real sotong server in the test's process on an
//! ephemeral loopback port with its own temporary data dir, or its own PostgreSQL database
//! ([`TestServer`], [`ScratchDatabase`]), users signed in
//! with JWTs or passwords ([`TestUser`], [`jwt`]), `/metrics`, a raw STOMP-over-WebSocket
//! client ([`Stomp`]) that sends exactly the frames a test writes, and the start-up of the
//! `sotong` binary for tests that run it as an operator would ([`ServedBinary`]), several of
//! them as one deployment on one scratch database ([`Cluster`], [`Node`]), the
//! machine's Redis with a prefix and ACL users of the run's own ([`redis_admin`], [`RedisUser`]),
//! a Redis process of the test's own that it may kill and restart ([`RedisProcess`]), and a
//! slow link to put in front of one node's Redis ([`SlowLink`]), and a relay that cuts a server
//! off its database and back ([`TcpGate`]).
//! With `SOTONG_TEST_CLUSTER=1`, a [`TestServer`] is a two-node cluster behind a round-robin
//! relay instead of one node ([`cluster_mode()`]), so the clients' tests run against both.
//!
//! Nothing here is mocked: the server is the one `sotong serve` runs. This crate is a
//! dev-dependency only; it must never reach into a crate's private parts or be used by
//! non-test code.

mod api;
mod auth;
mod binary;
mod cluster;
mod cluster_mode;
mod database;
mod gate;
mod redis_process;
mod redis_server;
mod server;
mod slow_link;
mod stomp;

pub use api::{HttpApi, TestUser};
pub use auth::{jwt, jwt_with_secret, JWT_SECRET};
pub use binary::ServedBinary;
pub use cluster::{Cluster, Node};
pub use cluster_mode::{cluster_mode, CLUSTER_ENV, CLUSTER_NODES};
pub use database::{ScratchDatabase, DEFAULT_TEST_DATABASE_URL};
pub use gate::TcpGate;
pub use redis_process::RedisProcess;
pub use redis_server::{redis_admin, redis_url, unique_redis_prefix, RedisUser};
pub use server::{test_config, ServerData, StoreBackend, TestServer};
pub use slow_link::SlowLink;
pub use stomp::{
    body, body_text, carries_text, is_error_for, is_receipt, notified_messages, topic_messages,
    Stomp,
};

use std::time::Duration;

/// How long a test waits for something that should come before it fails as hung: a guard
/// against a test hanging forever, never a stand-in for synchronisation.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Polls `read` every 20 ms until its value satisfies `wanted`, for work a server does after it
/// answered (a publication, a subscription on Redis); panics with `failure(value)` after
/// [`PATIENCE`].
pub(crate) async fn until_value<F, Fut>(
    read: F,
    wanted: impl Fn(i64) -> bool,
    failure: impl Fn(i64) -> String,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = read().await;
        if wanted(value) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", failure(value));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
