//! A PostgreSQL database of a test's own ([`ScratchDatabase`]): created empty on the server
//! the tests use, through its `postgres` maintenance database, and dropped again when the
//! test is done with it, whether it passed or not. Tests never share one, so they run in
//! parallel and leave nothing behind.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

/// The PostgreSQL server the tests use unless `SOTONG_TEST_DATABASE_URL` names another one.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Scratch databases made by this process so far, for unique names.
static MADE: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty PostgreSQL database, dropped (with any connections still open to it) when
/// this value is.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    url: String,
    maintenance: PgConnectOptions,
}

impl ScratchDatabase {
    /// Creates a database with a name no other test run uses, on the server of
    /// `SOTONG_TEST_DATABASE_URL` (default [`DEFAULT_TEST_DATABASE_URL`]).
    ///
    /// Panics, saying how to start one, when that server cannot be reached: a test that needs
    /// PostgreSQL fails without it rather than passing without having run.
    pub async fn create() -> ScratchDatabase {
        let base = std::env::var("SOTONG_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_string());
        let options: PgConnectOptions = base
            .parse()
            .unwrap_or_else(|e| panic!("SOTONG_TEST_DATABASE_URL {base:?} is not a URL: {e}"));
        let maintenance = options.database("postgres").disable_statement_logging();
        let mut conn = PgConnection::connect_with(&maintenance)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {}:{} ({e}). These tests need a PostgreSQL \
                     server whose user may create databases: start the local one \
                     (`pg_ctlcluster 15 main start` or `systemctl start postgresql`), or run \
                     `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`, \
                     or point SOTONG_TEST_DATABASE_URL at one",
                    maintenance.get_host(),
                    maintenance.get_port()
                )
            });
        let name = unique_name();
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let _ = conn.close().await;
        ScratchDatabase {
            url: with_database(&base, &name),
            name,
            maintenance,
        }
    }

    /// The database's URL, for `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the database's server, for a [`TcpGate`](crate::TcpGate) to relay to.
    /// Panics when it is not an address on this machine (tests reach no further).
    pub fn server_addr(&self) -> SocketAddr {
        let host = self.maintenance.get_host();
        let ip: IpAddr = if host == "localhost" {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host.parse()
                .unwrap_or_else(|_| panic!("the test database's host {host:?} is not an address"))
        };
        assert!(
            ip.is_loopback(),
            "the test database is not on this machine: {ip}"
        );
        SocketAddr::new(ip, self.maintenance.get_port())
    }

    /// The database's URL with its server's host and port replaced by `addr`: the same
    /// database, reached through a relay.
    pub fn url_through(&self, addr: SocketAddr) -> String {
        with_address(&self.url, addr)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on from within: the
        // drop gets a thread and a small runtime of its own, and this waits for it.
        let maintenance = self.maintenance.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect_with(&maintenance)
                    .await
                    .map_err(|e| e.to_string())?;
                // FORCE: a store the test did not close still holds connections.
                conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop the test database {}: {err}", self.name),
            Err(_) => eprintln!("dropping the test database {} panicked", self.name),
        }
    }
}

/// A database name no other test of this run, nor of a run going on beside it, has.
fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "sotong_test_{}_{}_{}",
        std::process::id(),
        nanos,
        MADE.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database (the path) replaced by `name`, its query kept.
fn with_database(url: &str, name: &str) -> String {
    let (rest, query) = match url.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (url, None),
    };
    let authority_start = rest.find("://").map_or(0, |i| i + 3);
    let base = match rest[authority_start..].find('/') {
        Some(slash) => &rest[..authority_start + slash],
        None => rest,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// `url` with the host and port of its authority replaced by `addr`, the user, database and
/// query kept.
fn with_address(url: &str, addr: SocketAddr) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let host_start = url[authority_start..authority_end]
        .rfind('@')
        .map_or(authority_start, |i| authority_start + i + 1);
    format!("{}{addr}{}", &url[..host_start], &url[authority_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432?sslmode=disable", "t2"),
            "postgres://u:p@db:5432/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://localhost/x/?application_name=a", "t3"),
            "postgresql://localhost/t3?application_name=a"
        );
    }

    #[test]
    fn the_address_of_a_url_is_replaced_and_the_rest_kept() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("addr");
        assert_eq!(
            with_address("postgres://postgres@127.0.0.1:5432/t1", addr),
            "postgres://postgres@127.0.0.1:4321/t1"
        );
        assert_eq!(
            with_address("postgres://u:p@localhost/t2?sslmode=disable", addr),
            "postgres://u:p@127.0.0.1:4321/t2?sslmode=disable"
        );
        assert_eq!(
            with_address("postgres://db:5432", addr),
            "postgres://127.0.0.1:4321"
        );
    }

    #[test]
    fn names_are_unique_and_need_no_quoting_beyond_the_identifier() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
