//! A slow network link for tests ([`SlowLink`]): a TCP relay on a loopback port that hands
//! every byte on to an upstream address, in order, a fixed delay after it arrived, in both
//! directions. A node that reaches Redis through one sees every round trip take twice the
//! delay, while the other nodes reach Redis directly: the moments a round trip opens (a
//! subscription taking effect, say) become wide enough for a test to hit every time.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

/// A delaying TCP relay on 127.0.0.1. Every connection it accepted is cut when it is dropped.
#[derive(Debug)]
pub struct SlowLink {
    addr: SocketAddr,
    _stop: DropGuard,
}

impl SlowLink {
    /// Relays connections made to [`SlowLink::addr`] to `upstream`, each byte `delay` late in
    /// either direction. Must be called inside a Tokio runtime, which runs the relay.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, upstream, delay, stop.clone()));
        SlowLink {
            addr,
            _stop: stop.drop_guard(),
        }
    }

    /// Where to connect instead of the upstream address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    delay: Duration,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((client, _)) = accepted else { continue };
        let stop = stop.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = stop.cancelled() => {}
                () = async {
                    tokio::join!(
                        relay(client_read, server_write, delay),
                        relay(server_read, client_write, delay),
                    );
                } => {}
            }
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, until `from` ends; then ends
/// `to`'s writing side too.
async fn relay(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if chunks
                        .send((Instant::now() + delay, buffer[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
