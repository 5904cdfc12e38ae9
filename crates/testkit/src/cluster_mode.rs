//! The cluster mode of [`TestServer`](crate::TestServer): with `SOTONG_TEST_CLUSTER=1` in the
//! environment, a test server is two nodes in the test's process on one scratch PostgreSQL
//! database and the machine's Redis (under a channel prefix of its own), behind a small
//! round-robin TCP relay whose address is the server's. A client's tests then run unchanged
//! against a cluster: a sender and a receiver who connect one after the other sit on different
//! nodes, so their messages cross Redis.
//!
//! The relay is what a load balancer does, and no more: it reads a connection's request line
//! to tell a WebSocket handshake (`GET /ws`) from a plain HTTP request, and gives each kind
//! its own turn, so that consecutive WebSockets alternate between the nodes however many HTTP
//! requests come between them.

use crate::{redis_admin, unique_redis_prefix, ScratchDatabase};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The environment variable that turns the cluster mode on (`1`).
pub const CLUSTER_ENV: &str = "SOTONG_TEST_CLUSTER";

/// How many nodes a test cluster has: two is the smallest number at which every message a
/// test sends between two clients crosses nodes.
pub const CLUSTER_NODES: usize = 2;

/// Whether tests run against clusters (`SOTONG_TEST_CLUSTER=1`).
pub fn cluster_mode() -> bool {
    std::env::var(CLUSTER_ENV).is_ok_and(|value| value == "1")
}

/// What a test cluster keeps between a stop and a restart: its database and its Redis channel
/// prefix. The database is dropped with this value.
#[derive(Debug)]
pub(crate) struct ClusterData {
    pub(crate) database: ScratchDatabase,
    pub(crate) redis_prefix: String,
}

impl ClusterData {
    /// A fresh database and prefix; fails the test, saying how to start it, when Redis or
    /// PostgreSQL does not answer.
    pub(crate) async fn create() -> ClusterData {
        redis_admin().await;
        ClusterData {
            database: ScratchDatabase::create().await,
            redis_prefix: unique_redis_prefix(),
        }
    }
}

/// The longest first line the relay reads before it picks a node; a request line is far
/// shorter, and anything else is relayed as plain HTTP.
const MAX_REQUEST_LINE: usize = 4096;

/// Turns taken so far, one counter per kind of connection.
#[derive(Default)]
struct Turns {
    websocket: AtomicUsize,
    http: AtomicUsize,
}

/// Relays every connection accepted on `listener` to one of `nodes`, round-robin per kind,
/// until `accepting` is cancelled (then the listener closes, as a stopped server's would).
/// Relayed connections end when either side closes, or when `relayed` is cancelled (after the
/// nodes have stopped, so that nothing outlives the cluster).
pub(crate) fn start_relay(
    listener: TcpListener,
    nodes: Vec<SocketAddr>,
    accepting: CancellationToken,
    relayed: CancellationToken,
) -> JoinHandle<()> {
    let nodes: Arc<[SocketAddr]> = nodes.into();
    let turns = Arc::new(Turns::default());
    tokio::spawn(async move {
        loop {
            let client = tokio::select! {
                () = accepting.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => client,
                    // A connection that failed before it was accepted; the next one may not.
                    Err(_) => continue,
                },
            };
            let relayed = relayed.clone();
            tokio::spawn(relay_one(
                client,
                Arc::clone(&nodes),
                Arc::clone(&turns),
                relayed,
            ));
        }
    })
}

/// Reads the client's request line, picks the node whose turn it is for that kind of
/// connection, hands it what was read and then copies both ways.
async fn relay_one(
    mut client: TcpStream,
    nodes: Arc<[SocketAddr]>,
    turns: Arc<Turns>,
    relayed: CancellationToken,
) {
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_REQUEST_LINE {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let turn = if is_websocket_handshake(&head) {
        &turns.websocket
    } else {
        &turns.http
    };
    let node = nodes[turn.fetch_add(1, Ordering::Relaxed) % nodes.len()];
    // A node that is gone (the cluster is stopping) closes the client's connection, as a
    // load balancer with no node left would.
    let Ok(mut upstream) = TcpStream::connect(node).await else {
        return;
    };
    if upstream.write_all(&head).await.is_err() {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        () = relayed.cancelled() => {}
    }
}

/// Whether a request starts as the STOMP WebSocket endpoint's handshake does.
fn is_websocket_handshake(head: &[u8]) -> bool {
    head.starts_with(b"GET /ws ") || head.starts_with(b"GET /ws?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_websocket_endpoint_takes_the_websocket_turn() {
        assert!(is_websocket_handshake(b"GET /ws HTTP/1.1\r\n"));
        assert!(is_websocket_handshake(b"GET /ws?x=1 HTTP/1.1\r\n"));
        assert!(!is_websocket_handshake(b"GET /wsx HTTP/1.1\r\n"));
        assert!(!is_websocket_handshake(b"POST /ws HTTP/1.1\r\n"));
        assert!(!is_websocket_handshake(b"GET /api/me HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn consecutive_websockets_alternate_between_the_nodes_whatever_comes_between() {
        // Two "nodes" that answer each connection with their own number.
        let mut nodes = Vec::new();
        for number in 0..2u8 {
            let node = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            nodes.push(node.local_addr().expect("addr"));
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = node.accept().await {
                    let mut line = [0u8; 64];
                    let _ = conn.read(&mut line).await;
                    let _ = conn.write_all(&[number]).await;
                }
            });
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (accepting, relayed) = (CancellationToken::new(), CancellationToken::new());
        let relay = start_relay(listener, nodes, accepting.clone(), relayed.clone());

        let ask = |request: &'static [u8]| async move {
            let mut conn = TcpStream::connect(addr).await.expect("connect");
            conn.write_all(request).await.expect("write");
            let mut answer = [0u8; 1];
            conn.read_exact(&mut answer).await.expect("answer");
            answer[0]
        };
        let ws = b"GET /ws HTTP/1.1\r\n\r\n";
        let http = b"GET /api/me HTTP/1.1\r\n\r\n";
        assert_eq!(ask(ws).await, 0);
        assert_eq!(ask(http).await, 0);
        assert_eq!(ask(http).await, 1);
        assert_eq!(ask(ws).await, 1);
        assert_eq!(ask(http).await, 0);
        assert_eq!(ask(ws).await, 0);

        accepting.cancel();
        relayed.cancel();
        tokio::time::timeout(crate::PATIENCE, relay)
            .await
            .expect("the relay stops")
            .expect("relay task");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed"
        );
    }
}
