//! Prometheus metrics, one registry per server instance (no globals, so tests can run many
//! servers in one process), served as text at `GET /metrics`.
//!
//! The parts record into it; it reaches none of them.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open STOMP connections (after CONNECT).
    pub connections: Gauge,
    /// Subscriptions held by open connections.
    pub subscriptions: Gauge,
    /// STOMP frames received.
    pub frames_in: Counter,
    /// STOMP frames sent.
    pub frames_out: Counter,
    /// Messages committed to the store.
    pub messages_stored: Counter,
    /// Times a session read the store to fill a gap between live publications of a room: on
    /// one node publications leave in commit order, so anything above 0 here points at a
    /// lost or reordered publication.
    pub gap_fills: Counter,
    /// Times a room head from the store showed a session's topic behind: a message was
    /// committed and never published (its node died in between, or Redis lost it), and came
    /// from the store instead. Each is also a gap fill.
    pub room_head_catch_ups: Counter,
    /// Publications that reached a connection ahead of a missing `seq` of their room's topic
    /// (another node's publication overtook them, or one was lost). The session does not hold
    /// them back: it reads the missing messages from the store and sends them first, so the
    /// client still sees `seq` order. Each is also a gap fill; on one node this stays 0.
    pub reordered_publications: Counter,
    /// Publications a connection dropped because its room topic had sent that `seq` already
    /// (by a `since-seq` replay or a gap fill that ran ahead of the publication), or because a
    /// topic subscription that ended had sent it: the duplicates rule 3 keeps from the client.
    pub duplicate_publications: Counter,
    /// Connections sent `{"type":"resync"}` (on their notification subscriptions) after the
    /// node's link to the other nodes came back from a loss.
    pub resyncs: Counter,
    /// Seconds from a message's commit to its frame being written to a subscriber's socket.
    pub delivery_latency: Histogram,
    /// 1 while the Redis broker's subscription connection is up, 0 while it reconnects
    /// (always 0 without `--redis-url`).
    pub redis_connected: Gauge,
    /// Times the Redis broker connected again after losing its subscription connection.
    pub redis_reconnects: Counter,
    /// Users whose Redis channel this node is subscribed to (one per user connected here).
    pub redis_subscribed_users: Gauge,
    /// Publications handed to Redis for the other nodes. The broker on one node (no
    /// `--redis-url`) hands publications straight to its own hub: nothing crosses a network,
    /// so it counts nothing here, nor in the other `redis_*` metrics.
    pub redis_published: Counter,
    /// Publications the other nodes missed: the queue to Redis was full or Redis failed.
    /// Local connections had them already; remote ones catch up from the store.
    pub redis_publish_failures: Counter,
    /// Publications received from other nodes through Redis and handed to the local hub.
    pub redis_received: Counter,
    /// Presence changes this node published (each reaches every node once).
    pub presence_published: Counter,
    /// Presence frames written to connections here (one per watching subscription).
    pub presence_frames: Counter,
    /// Bytes of the bodies of those frames.
    pub presence_bytes: Counter,
    /// Web Push requests the push service accepted.
    pub push_sent: Counter,
    /// Web Push requests that failed (an error status other than 404/410, a timeout, a refused
    /// address) or were dropped because the push queue was full.
    pub push_failed: Counter,
    /// Push subscriptions removed because the push service said they are gone (404/410).
    pub push_gone: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sotong");
        let connections = Gauge::default();
        let subscriptions = Gauge::default();
        let frames_in = Counter::default();
        let frames_out = Counter::default();
        let messages_stored = Counter::default();
        let gap_fills = Counter::default();
        let room_head_catch_ups = Counter::default();
        let reordered_publications = Counter::default();
        let duplicate_publications = Counter::default();
        let resyncs = Counter::default();
        let delivery_latency = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        registry.register("connections", "Open STOMP connections", connections.clone());
        registry.register(
            "subscriptions",
            "Active subscriptions",
            subscriptions.clone(),
        );
        registry.register("frames_in", "STOMP frames received", frames_in.clone());
        registry.register("frames_out", "STOMP frames sent", frames_out.clone());
        registry.register(
            "messages_stored",
            "Messages committed",
            messages_stored.clone(),
        );
        registry.register(
            "gap_fills",
            "Store reads that filled a gap between live publications",
            gap_fills.clone(),
        );
        registry.register(
            "room_head_catch_ups",
            "Topics found behind their room's last seq in the store and filled from it",
            room_head_catch_ups.clone(),
        );
        registry.register(
            "reordered_publications",
            "Publications that reached a connection ahead of a missing seq; the gap was sent first",
            reordered_publications.clone(),
        );
        registry.register(
            "duplicate_publications",
            "Publications a connection dropped because it had sent their seq already",
            duplicate_publications.clone(),
        );
        registry.register(
            "resyncs",
            "Connections told to resync after the link to the other nodes came back",
            resyncs.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From commit to the frame written to a subscriber",
            delivery_latency.clone(),
        );
        let redis_connected = Gauge::default();
        let redis_reconnects = Counter::default();
        let redis_subscribed_users = Gauge::default();
        let redis_published = Counter::default();
        let redis_publish_failures = Counter::default();
        let redis_received = Counter::default();
        let push_sent = Counter::default();
        let push_failed = Counter::default();
        let push_gone = Counter::default();
        registry.register(
            "push_sent",
            "Web Push requests accepted by a push service",
            push_sent.clone(),
        );
        registry.register(
            "push_failed",
            "Web Push requests that failed or were dropped (queue full)",
            push_failed.clone(),
        );
        registry.register(
            "push_gone",
            "Push subscriptions removed because the push service answered 404 or 410",
            push_gone.clone(),
        );
        registry.register(
            "redis_connected",
            "1 while the Redis broker's subscription connection is up",
            redis_connected.clone(),
        );
        registry.register(
            "redis_reconnects",
            "Reconnections of the Redis broker after a lost connection",
            redis_reconnects.clone(),
        );
        registry.register(
            "redis_subscribed_users",
            "Users whose Redis channel this node subscribes to",
            redis_subscribed_users.clone(),
        );
        registry.register(
            "redis_published",
            "Publications sent to the other nodes through Redis",
            redis_published.clone(),
        );
        registry.register(
            "redis_publish_failures",
            "Publications the other nodes missed (queue full or Redis failed)",
            redis_publish_failures.clone(),
        );
        registry.register(
            "redis_received",
            "Publications received from other nodes through Redis",
            redis_received.clone(),
        );
        let presence_published = Counter::default();
        let presence_frames = Counter::default();
        let presence_bytes = Counter::default();
        registry.register(
            "presence_published",
            "Presence changes this node published to every node",
            presence_published.clone(),
        );
        registry.register(
            "presence_frames",
            "Presence frames queued to watching connections here",
            presence_frames.clone(),
        );
        registry.register(
            "presence_bytes",
            "Bytes of the bodies of presence frames queued here",
            presence_bytes.clone(),
        );
        Metrics {
            presence_published,
            presence_frames,
            presence_bytes,
            registry,
            connections,
            subscriptions,
            frames_in,
            frames_out,
            messages_stored,
            gap_fills,
            room_head_catch_ups,
            reordered_publications,
            duplicate_publications,
            resyncs,
            delivery_latency,
            redis_connected,
            redis_reconnects,
            redis_subscribed_users,
            redis_published,
            redis_publish_failures,
            redis_received,
            push_sent,
            push_failed,
            push_gone,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
