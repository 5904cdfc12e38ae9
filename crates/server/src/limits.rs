//! Limits at the server's edge, before any request is understood: how many sockets the process
//! may hold, how many of them one address may hold, and what the accept loop does when the
//! process runs out of file descriptors.
//!
//! Every socket is a file descriptor. When the process reaches its open-file limit, `accept`
//! fails with `EMFILE` and every new client waits in the kernel's backlog until it gives up, so
//! the caps here are sized from the limit actually in force (after raising the soft limit to the
//! hard one), leaving room for the store's files, and the server refuses a connection it
//! cannot afford instead of running into the wall.
//!
//! It owns the caps and their slots ([`Admission`]); it reaches no room rules, no store and no
//! session state.

use crate::client_addr::TrustedProxies;
use crate::config::Limits;
use crate::error::Error;
use crate::throttle::{IpConnection, IpConnections};
use axum::extract::ws::Message;
use futures_util::{Sink, Stream};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// File descriptors kept back from the connection caps: the store (database, WAL, shared
/// memory), the listener, the runtime's epoll and event descriptors, logs.
pub const RESERVED_FILES: u64 = 64;

/// The largest default for the total connection cap, whatever the open-file limit: beyond it,
/// memory (tens of KiB per connection) rather than descriptors is what runs out.
pub const MAX_DEFAULT_CONNECTIONS: u64 = 100_000;

/// Raises the soft open-file limit to the hard limit and returns the soft limit in force
/// afterwards (`None` where the platform has no such limit).
///
/// The common soft limit of 1,024 is far below what a chat server with one socket per client
/// needs, and the hard limit is the operator's real ceiling.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(error = %err, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The connection caps in force: the configured ones, or defaults sized from the open-file
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Open connections of any kind (HTTP and WebSocket) in the whole process.
    pub total: usize,
    /// Plain HTTP connections (not yet upgraded) from one address.
    pub http_per_ip: usize,
    /// WebSockets from one address that have not yet been answered `CONNECTED` (or `ERROR`).
    pub pending_per_ip: usize,
    /// WebSockets from one address.
    pub websockets_per_ip: usize,
}

impl ConnectionCaps {
    /// The caps for `limits` when the process may open `open_files` files (`None`: unknown,
    /// taken as 1,024, the most common soft limit).
    ///
    /// By default the total is the open-file limit less [`RESERVED_FILES`] (at most
    /// [`MAX_DEFAULT_CONNECTIONS`]), and one address may hold a quarter of it in plain HTTP
    /// connections and as many WebSockets still waiting for `CONNECTED`: a single attacker
    /// cannot take every descriptor, while a large NAT or a reconnect storm still fits.
    pub fn new(limits: &Limits, open_files: Option<u64>) -> ConnectionCaps {
        let open_files = open_files.unwrap_or(1024);
        let default_total = open_files
            .saturating_sub(RESERVED_FILES)
            .clamp(16, MAX_DEFAULT_CONNECTIONS);
        let total = limits
            .max_connections
            .unwrap_or(usize::try_from(default_total).unwrap_or(usize::MAX))
            .max(1);
        let quarter = (total / 4).max(8).min(total);
        ConnectionCaps {
            total,
            http_per_ip: limits.max_http_connections_per_ip.unwrap_or(quarter).max(1),
            pending_per_ip: limits
                .max_pending_connections_per_ip
                .unwrap_or(quarter)
                .max(1),
            websockets_per_ip: limits.max_connections_per_ip.min(total).max(1),
        }
    }
}

/// One connection's slot of the total cap, shared by the HTTP connection and, after an
/// upgrade, by its WebSocket session (which keeps the descriptor open after hyper lets go).
#[derive(Debug, Clone)]
pub struct ConnectionSlot(
    /// Released when the last holder is dropped.
    pub Arc<OwnedSemaphorePermit>,
);

/// The caps in force and the slots they hand out: every TCP connection takes one of the
/// total, every plain HTTP connection one of its address's, every WebSocket one of its
/// address's and, until `CONNECTED`, one of its address's pending ones. A slot is given back
/// when the value holding it is dropped.
#[derive(Debug)]
pub struct Admission {
    caps: ConnectionCaps,
    total: Arc<Semaphore>,
    http: Arc<IpConnections>,
    websockets: Arc<IpConnections>,
    pending: Arc<IpConnections>,
    trusted_proxies: TrustedProxies,
}

impl Admission {
    /// Slots for `caps`; connections from `trusted_proxies` carry many clients and are capped
    /// by the address they forward, not by their own.
    pub fn new(caps: ConnectionCaps, trusted_proxies: TrustedProxies) -> Admission {
        Admission {
            total: Arc::new(Semaphore::new(caps.total)),
            caps,
            http: Arc::default(),
            websockets: Arc::default(),
            pending: Arc::default(),
            trusted_proxies,
        }
    }

    /// The caps in force.
    pub fn caps(&self) -> ConnectionCaps {
        self.caps
    }

    /// Whose forwarding headers are believed.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// A new TCP connection from `peer`: its slot of the total and, unless it comes from a
    /// trusted proxy, of its address's HTTP cap; `None` (logged) when either is used up.
    pub fn admit_connection(
        &self,
        peer: SocketAddr,
    ) -> Option<(ConnectionSlot, Option<IpConnection>)> {
        let Ok(total) = self.total.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "refused a connection: the server holds its maximum");
            return None;
        };
        // A trusted proxy carries many clients on its connections; they are told apart (and
        // capped) by the address it forwards, once a request has been read.
        let http = if self.trusted_proxies.contains(peer.ip()) {
            None
        } else {
            let Some(slot) = self
                .http
                .open(peer.ip().to_canonical(), self.caps.http_per_ip)
            else {
                tracing::debug!(%peer, "refused a connection: too many from this address");
                return None;
            };
            Some(slot)
        };
        Some((ConnectionSlot(Arc::new(total)), http))
    }

    /// A WebSocket from the client at `ip`: its slot of the address's WebSocket cap, and one of
    /// its pending cap to hold until the session answers `CONNECT`.
    ///
    /// # Errors
    /// `RateLimited`, saying which cap is used up.
    pub fn admit_websocket(&self, ip: IpAddr) -> Result<(IpConnection, IpConnection), Error> {
        let Some(slot) = self.websockets.open(ip, self.caps.websockets_per_ip) else {
            tracing::info!(%ip, "refused a WebSocket: too many from this address");
            return Err(Error::RateLimited(
                "too many connections from this address".into(),
            ));
        };
        // Sockets that have not been answered CONNECTED cost memory but prove nothing yet: one
        // address may only hold so many of them at once.
        let Some(pending) = self.pending.open(ip, self.caps.pending_per_ip) else {
            tracing::info!(%ip, "refused a WebSocket: too many unanswered from this address");
            return Err(Error::RateLimited(
                "too many connections waiting for CONNECTED from this address".into(),
            ));
        };
        Ok((slot, pending))
    }
}

/// What the accept loop does after `accept` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptFailure {
    /// How long to wait before accepting again.
    pub pause: Duration,
    /// Whether to log this failure now: resource errors are logged once per
    /// [`AcceptBackoff::LOG_INTERVAL`], with the number suppressed since the last line.
    pub log: Option<u64>,
}

/// The accept loop's back-off policy.
///
/// Per-connection errors (the peer reset before it was accepted) are retried at once. Running
/// out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) would otherwise fail
/// again immediately, spinning a core and filling the log; instead the loop sleeps, 10 ms at
/// first, doubling up to a second while the condition lasts, so connections that close in the
/// meantime free descriptors, and logs one line per interval.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Option<Duration>,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptBackoff {
    /// The first pause after a resource error.
    pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX_PAUSE: Duration = Duration::from_secs(1);
    /// At most one log line per interval while errors last.
    pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

    /// A connection was accepted: the next resource error starts from the first pause again.
    pub fn on_success(&mut self) {
        self.pause = None;
    }

    /// `accept` failed with `err` at `now`.
    pub fn on_error(&mut self, err: &io::Error, now: Instant) -> AcceptFailure {
        if is_connection_error(err) {
            return AcceptFailure {
                pause: Duration::ZERO,
                log: None,
            };
        }
        let pause = match self.pause {
            None => Self::FIRST_PAUSE,
            Some(previous) => (previous * 2).min(Self::MAX_PAUSE),
        };
        self.pause = Some(pause);
        let due = self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Self::LOG_INTERVAL);
        let log = if due {
            self.last_logged = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        };
        AcceptFailure { pause, log }
    }
}

/// Errors about one incoming connection, not about the listener or the process.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A WebSocket that holds a slot of its address's cap on unanswered sockets until the server
/// writes its first frame to it (`CONNECTED`, or the `ERROR` that ends it).
#[derive(Debug)]
pub struct UntilAnswered<T> {
    socket: T,
    pending: Option<IpConnection>,
}

impl<T> UntilAnswered<T> {
    /// `socket`, counted in `pending` until it is answered.
    pub fn new(socket: T, pending: IpConnection) -> Self {
        UntilAnswered {
            socket,
            pending: Some(pending),
        }
    }
}

impl<T: Stream + Unpin> Stream for UntilAnswered<T> {
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.socket).poll_next(cx)
    }
}

impl<T: Sink<Message> + Unpin> Sink<Message> for UntilAnswered<T> {
    type Error = T::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), T::Error>> {
        Pin::new(&mut self.socket).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), T::Error> {
        self.pending = None;
        Pin::new(&mut self.socket).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), T::Error>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), T::Error>> {
        Pin::new(&mut self.socket).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[test]
    fn resource_errors_back_off_exponentially_up_to_a_second() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        let pauses: Vec<Duration> = (0..10)
            .map(|_| backoff.on_error(&emfile(), now).pause)
            .collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(pauses[2], Duration::from_millis(40));
        assert_eq!(pauses[9], Duration::from_secs(1));
        backoff.on_success();
        assert_eq!(
            backoff.on_error(&emfile(), now).pause,
            Duration::from_millis(10)
        );
    }

    #[test]
    fn resource_errors_are_logged_once_per_interval_with_the_count_suppressed() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        assert_eq!(backoff.on_error(&emfile(), start).log, Some(0));
        for i in 1..=5 {
            let at = start + Duration::from_secs(i);
            assert_eq!(backoff.on_error(&emfile(), at).log, None);
        }
        let later = start + AcceptBackoff::LOG_INTERVAL;
        assert_eq!(backoff.on_error(&emfile(), later).log, Some(5));
    }

    #[test]
    fn a_peer_reset_is_retried_at_once_and_not_logged() {
        let mut backoff = AcceptBackoff::default();
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        let failure = backoff.on_error(&reset, Instant::now());
        assert_eq!(failure.pause, Duration::ZERO);
        assert_eq!(failure.log, None);
    }

    #[test]
    fn default_caps_follow_the_open_file_limit() {
        let limits = Limits::default();
        let small = ConnectionCaps::new(&limits, Some(1024));
        assert_eq!(small.total, 960);
        assert_eq!(small.http_per_ip, 240);
        assert_eq!(small.pending_per_ip, 240);
        assert_eq!(small.websockets_per_ip, 960, "never above the total");
        let large = ConnectionCaps::new(&limits, Some(1 << 20));
        assert_eq!(large.total, 100_000);
        assert_eq!(large.websockets_per_ip, 4096);
        let configured = ConnectionCaps::new(
            &Limits {
                max_connections: Some(50),
                max_http_connections_per_ip: Some(3),
                ..Limits::default()
            },
            Some(1024),
        );
        assert_eq!((configured.total, configured.http_per_ip), (50, 3));
        assert_eq!(configured.pending_per_ip, 12);
    }
}
