//! The node's lifecycle: [`run`] opens the [`App`], serves until the shutdown token fires,
//! then drains.
//!
//! Connections are accepted here rather than by `axum::serve`, whose loop has no header-read
//! timeout, no connection caps and logs every failed `accept`: each TCP connection takes a slot
//! of the total cap and of its address's HTTP cap (refused at once when none is left), and is
//! served as HTTP/1.1 by hyper with a header-read timeout that also ends idle keep-alive
//! connections. An upgraded WebSocket keeps its total slot and leaves the HTTP cap for the
//! WebSocket caps in [`http`].
//!
//! Shutdown order: stop accepting, let open HTTP connections finish their request, let every
//! session notice the token, finish the frame it is handling (so an in-flight commit completes and its RECEIPT
//! goes out), send `ERROR shutting_down` and close; then close the store. axum does not wait
//! for upgraded WebSocket tasks, so sessions run on a [`TaskTracker`] that `run` waits on.
//!
//! This is the top of the server: it reaches the [`App`] and the HTTP router, and nothing
//! reaches it (`scripts/check-layers` holds the modules to that).

use crate::app::{App, ServerError};
use crate::config::Config;
use crate::http;
use crate::limits::{AcceptBackoff, ConnectionSlot};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long sessions get to close after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How many users' presence a stopping node lets go at a time (each a broker round trip and
/// a store read).
const DEPART_CONCURRENCY: usize = 32;

/// Serves on `listener` until `shutdown` fires, then drains and returns.
///
/// # Errors
/// An invalid configuration, a store that cannot be opened, or a failing listener.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let app = App::open(config, shutdown.clone()).await?;
    let addr = listener.local_addr()?;
    let router = http::router(app.clone());
    if app.config().database_url.is_some() {
        tracing::info!("store: PostgreSQL");
    } else {
        tracing::info!(data_dir = %app.config().data_dir.display(), "store: embedded SQLite");
    }
    tracing::info!("listening on http://{addr}");
    let connections = TaskTracker::new();
    accept_loop(&listener, &app, router, &connections).await;
    // Open HTTP connections finish the request they are serving (hyper's graceful shutdown);
    // idle ones close at once.
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = connections.len(),
            "some HTTP connections did not close in time"
        );
    }

    tracing::info!(
        sessions = app.sessions().len(),
        "shutting down: closing sessions"
    );
    app.sessions().close();
    if tokio::time::timeout(DRAIN_TIMEOUT, app.sessions().wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = app.sessions().len(),
            "some sessions did not close in time"
        );
    }
    // With the sessions gone, this node's users are let go now rather than when their
    // shared records lapse (they may be online on another node, or reconnect to one).
    if tokio::time::timeout(DRAIN_TIMEOUT, app.presence().depart(DEPART_CONCURRENCY))
        .await
        .is_err()
    {
        tracing::warn!("presence: not every user was let go in time; their records will lapse");
    }
    app.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Accepts connections until shutdown, each on its own task tracked by `connections`.
async fn accept_loop(
    listener: &TcpListener,
    app: &Arc<App>,
    router: Router,
    connections: &TaskTracker,
) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = app.shutdown().cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff.on_success();
                accepted
            }
            Err(err) => {
                let failure = backoff.on_error(&err, Instant::now());
                if let Some(suppressed) = failure.log {
                    tracing::error!(
                        error = %err,
                        suppressed,
                        pause_ms = failure.pause.as_millis() as u64,
                        "accept failed; pausing (the same error is logged at most every 10 s)"
                    );
                }
                if !failure.pause.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(failure.pause) => {}
                        () = app.shutdown().cancelled() => return,
                    }
                }
                continue;
            }
        };
        let Some((total_slot, http_slot)) = app.admission().admit_connection(peer) else {
            continue;
        };
        let app = app.clone();
        let router = router.clone();
        connections.spawn(async move {
            serve_connection(tcp, peer, app, router, total_slot).await;
            drop(http_slot);
        });
    }
}

/// Serves HTTP/1.1 on one connection until it closes, upgrades, or the server shuts down.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    router: Router,
    slot: ConnectionSlot,
) {
    // Chat frames are small and latency matters more than packet count: without TCP_NODELAY,
    // Nagle's algorithm holds a frame back until the previous one is acknowledged, and the
    // peer's delayed ACK makes that up to 40 ms.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(slot.clone());
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(
            app.config().limits.header_read_timeout_ms,
        ))
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = app.shutdown().cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        // Timeouts, resets and malformed requests: the client's problem, not the operator's.
        tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
    }
}
