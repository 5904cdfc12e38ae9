//! The machine's Redis for tests that fan out between nodes: where it is, a channel prefix of
//! the run's own, a connection for the test's own commands, and ACL users whose connections a
//! test may kill without touching anyone else's.

use redis::aio::MultiplexedConnection;
use std::time::Duration;

/// The Redis the tests use: `SOTONG_TEST_REDIS_URL`, or the machine's on 127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("SOTONG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A channel prefix no other run (or test) uses, so that runs never hear each other.
pub fn unique_redis_prefix() -> String {
    format!(
        "sotong-test-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// A connection for the test's own commands (`PUBSUB NUMSUB`, `CLIENT KILL`, `ACL`). Fails the
/// test, saying how to start one, when Redis does not answer: a missing Redis is a broken test
/// machine, not a reason to skip.
pub async fn redis_admin() -> MultiplexedConnection {
    let url = redis_url();
    let unreachable = |err: String| -> ! {
        panic!(
            "Redis is not reachable at {url} ({err}). These tests need a Redis server: start \
             one (`service redis-server start`, `redis-server --daemonize yes`) or point \
             SOTONG_TEST_REDIS_URL at one"
        )
    };
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| unreachable(e.to_string()));
    let connecting = client.get_multiplexed_async_connection();
    match tokio::time::timeout(Duration::from_secs(5), connecting).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(err)) => unreachable(err.to_string()),
        Err(_) => unreachable("no answer within 5 s".into()),
    }
}

/// A Redis ACL user of the test's own: a node that connects as it can have its connections
/// killed (`CLIENT KILL USER`) while every other client of the machine's Redis goes on.
#[derive(Debug)]
pub struct RedisUser {
    name: String,
    password: String,
}

impl RedisUser {
    /// Creates a user with every right, named after `label` and the run.
    pub async fn create(admin: &mut MultiplexedConnection, label: &str) -> RedisUser {
        let user = RedisUser {
            name: format!("{}-{label}", unique_redis_prefix()),
            password: format!("{:016x}", rand::random::<u64>()),
        };
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user.name)
            .arg("on")
            .arg(format!(">{}", user.password))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .query_async(admin)
            .await
            .expect("ACL SETUSER");
        user
    }

    /// `url` with this user's credentials.
    pub fn url(&self, url: &str) -> String {
        url.replacen(
            "redis://",
            &format!("redis://{}:{}@", self.name, self.password),
            1,
        )
    }

    /// Kills every connection of this user; returns how many there were.
    pub async fn kill_connections(&self, admin: &mut MultiplexedConnection) -> i64 {
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&self.name)
            .query_async(admin)
            .await
            .expect("CLIENT KILL")
    }

    /// Removes the user (and closes its connections).
    pub async fn delete(self, admin: &mut MultiplexedConnection) {
        let _: i64 = redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&self.name)
            .query_async(admin)
            .await
            .expect("ACL DELUSER");
    }
}
