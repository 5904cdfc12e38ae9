//! A TCP relay a test can cut and restore ([`TcpGate`]): put between a server and its
//! database, it makes the database unreachable and reachable again at the test's command,
//! without touching the database server that other tests share.

use crate::PATIENCE;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A relay on `127.0.0.1`, on a port of its own, to one loopback address. While open it
/// forwards every connection to the target; [`TcpGate::cut`] closes every relayed connection
/// and stops listening, so new connections are refused as by a server that is down;
/// [`TcpGate::restore`] listens again on the same port. Dropping it cuts it.
#[derive(Debug)]
pub struct TcpGate {
    addr: SocketAddr,
    target: SocketAddr,
    /// Ends the listener and every relayed connection of the current opening.
    cut: CancellationToken,
    /// The listener's task and the relayed connections' tasks of the current opening.
    tasks: TaskTracker,
}

impl TcpGate {
    /// Opens a relay to `target`, which must be a loopback address (tests never reach
    /// further than this machine).
    pub async fn open(target: SocketAddr) -> TcpGate {
        assert!(
            target.ip().is_loopback(),
            "a gate relays to this machine only, not {target}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let mut gate = TcpGate {
            addr,
            target,
            cut: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        gate.serve(listener);
        gate
    }

    /// Where clients connect to reach the target through the gate.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection and the listener; returns once all are closed, so a
    /// connection attempt from now on is refused.
    pub async fn cut(&mut self) {
        self.cut.cancel();
        self.tasks.close();
        tokio::time::timeout(PATIENCE, self.tasks.wait())
            .await
            .expect("the gate's connections closed in time");
    }

    /// Listens on the gate's port again (after [`TcpGate::cut`]); new connections are relayed
    /// from now on. Waits (at most PATIENCE) for the port while the system still holds it.
    pub async fn restore(&mut self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    eprintln!("gate {}: waiting for the port ({err})", self.addr);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(err) => panic!("gate {}: could not listen again: {err}", self.addr),
            }
        };
        self.cut = CancellationToken::new();
        self.tasks = TaskTracker::new();
        self.serve(listener);
    }

    /// Accepts on `listener` and relays each connection, until cut.
    fn serve(&mut self, listener: TcpListener) {
        let cut = self.cut.clone();
        let tasks = self.tasks.clone();
        let target = self.target;
        self.tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = cut.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                let cut = cut.clone();
                tasks.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        () = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.cut.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server on a loopback port; it runs until the test's runtime ends.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("echo addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(bytes).await?;
        let mut back = vec![0; bytes.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    #[tokio::test]
    async fn a_cut_closes_relayed_connections_and_refuses_new_ones_until_restored() {
        let mut gate = TcpGate::open(echo().await).await;
        let mut relayed = TcpStream::connect(gate.addr()).await.expect("connect");
        assert_eq!(
            round_trip(&mut relayed, b"ping").await.expect("echo"),
            b"ping"
        );

        gate.cut().await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, relayed.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a relayed connection ends at the cut: {read:?}"
        );
        let refused = TcpStream::connect(gate.addr()).await;
        assert!(refused.is_err(), "a new connection is refused while cut");

        gate.restore().await;
        let mut again = TcpStream::connect(gate.addr()).await.expect("reconnect");
        assert_eq!(
            round_trip(&mut again, b"pong").await.expect("echo"),
            b"pong"
        );
    }
}
