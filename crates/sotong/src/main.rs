//! The `sotong` binary: thin over `sotong-server`. `sotong serve` runs the chat server.
//!
//! Settings come from defaults < an optional TOML file (`--config`) < `SOTONG_*` environment
//! variables < flags, are validated once, and are passed down explicitly.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sotong_server::Config;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// sotong: a real-time chat server speaking STOMP 1.2 over WebSocket.
#[derive(Debug, Parser)]
#[command(name = "sotong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server (HTTP API, WebSocket at /ws, web app at /).
    Serve(ServeArgs),
    /// Load-test sotong or any STOMP-over-WebSocket broker.
    Bench(sotong_cli::bench::BenchArgs),
    /// Load-test attachment uploads: MB/s, the server's peak memory, image processing time.
    BenchUploads(sotong_cli::uploads::UploadBenchArgs),
    /// Load-test presence: many users coming online, each watching the users it shares rooms with.
    BenchPresence(sotong_cli::presence::PresenceBenchArgs),
    /// Chat in the terminal.
    Chat(sotong_chat::ChatArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML file with any of the settings below (flags and environment win over it).
    #[arg(long, env = "SOTONG_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SOTONG_LISTEN")]
    listen: Option<SocketAddr>,
    /// Folder of the embedded SQLite store [default: ./data].
    #[arg(long, env = "SOTONG_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of SQLite.
    #[arg(long, env = "SOTONG_DATABASE_URL")]
    database_url: Option<String>,
    /// redis://… for fan-out between server nodes (several nodes also need --database-url).
    #[arg(long, env = "SOTONG_REDIS_URL")]
    redis_url: Option<String>,
    /// HS256 secret for JWTs issued by your application backend.
    #[arg(long, env = "SOTONG_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Password sign-up: open or closed [default: open without --jwt-secret, closed with one].
    #[arg(long, env = "SOTONG_REGISTRATION")]
    registration: Option<sotong_server::config::Registration>,
    /// Extra browser origins allowed to open /ws, comma-separated (the server's own always is).
    #[arg(long, env = "SOTONG_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Folder of a built web app to serve at / instead of the one built into the binary.
    #[arg(long, env = "SOTONG_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// Reverse proxies whose X-Forwarded-For / Forwarded headers are believed, as CIDRs,
    /// comma-separated (e.g. 127.0.0.1/32,10.0.0.0/8) [default: none].
    #[arg(long, env = "SOTONG_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Option<Vec<ipnet::IpNet>>,
    /// Open connections in all [default: the open-file limit less 64].
    #[arg(long, env = "SOTONG_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Milliseconds an HTTP connection has to send its request headers (and the longest an idle
    /// keep-alive connection is kept) [default: 10000].
    #[arg(long, env = "SOTONG_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Largest STOMP frame in bytes [default: 65536].
    #[arg(long, env = "SOTONG_MAX_FRAME_BYTES")]
    max_frame_bytes: Option<usize>,
    /// Longest message text in characters [default: 4000].
    #[arg(long, env = "SOTONG_MAX_MESSAGE_CHARS")]
    max_message_chars: Option<usize>,
    /// Subscriptions per connection [default: 256].
    #[arg(long, env = "SOTONG_MAX_SUBSCRIPTIONS")]
    max_subscriptions: Option<usize>,
    /// Sustained messages per second per user, STOMP and HTTP together [default: 50].
    #[arg(long, env = "SOTONG_SEND_RATE")]
    send_rate: Option<u32>,
    /// Burst of messages per user [default: 100].
    #[arg(long, env = "SOTONG_SEND_BURST")]
    send_burst: Option<u32>,
    /// Frames queued per connection before it is closed as a slow consumer [default: 1024].
    #[arg(long, env = "SOTONG_OUTBOUND_QUEUE")]
    outbound_queue: Option<usize>,
    /// While messages keep coming, milliseconds a batch may gather before its commit (0: commit
    /// at once) [default: 5].
    #[arg(long, env = "SOTONG_COMMIT_WINDOW_MS")]
    commit_window_ms: Option<u64>,
    /// Milliseconds between checks of the watched rooms' last seq in the store, which bring a
    /// message committed but never published (its node died) to the room's viewers (0: never)
    /// [default: 2000].
    #[arg(long, env = "SOTONG_ROOM_HEAD_CHECK_MS")]
    room_head_check_ms: Option<u64>,
    /// With --redis-url: milliseconds between this node's heartbeats in Redis; the other nodes
    /// count it as stopped after three missed beats and tell their clients to resync
    /// [default: 2000].
    #[arg(long, env = "SOTONG_NODE_HEARTBEAT_MS")]
    node_heartbeat_ms: Option<u64>,
    /// Milliseconds a user still shows online after its last connection closed (a reload does
    /// not flicker offline) [default: 5000].
    #[arg(long, env = "SOTONG_PRESENCE_GRACE_MS")]
    presence_grace_ms: Option<u64>,
    /// Shortest time between two presence changes of one user that its watchers hear of, in
    /// milliseconds (changes within it are coalesced into the last) [default: 1000].
    #[arg(long, env = "SOTONG_PRESENCE_INTERVAL_MS")]
    presence_interval_ms: Option<u64>,
    /// With --redis-url: milliseconds a node's presence records live in Redis unless refreshed;
    /// a dead node's users show offline after it [default: 30000].
    #[arg(long, env = "SOTONG_PRESENCE_TTL_MS")]
    presence_ttl_ms: Option<u64>,
    /// Seconds after sending during which a message may be edited (deleting has no window)
    /// [default: none, always editable].
    #[arg(long, env = "SOTONG_EDIT_WINDOW_SECS")]
    edit_window_secs: Option<u64>,
    /// Where attachments are stored: file:///folder, or s3://BUCKET/PREFIX configured by the
    /// AWS_* environment variables (shared by several nodes) [default: DATA_DIR/files].
    #[arg(long, env = "SOTONG_FILES_URL")]
    files_url: Option<String>,
    /// Largest attachment upload in bytes [default: 26214400].
    #[arg(long, env = "SOTONG_MAX_UPLOAD_BYTES")]
    max_upload_bytes: Option<u64>,
    /// Seconds an upload may wait to be sent before it is deleted [default: 3600].
    #[arg(long, env = "SOTONG_UPLOAD_TTL_SECS")]
    upload_ttl_secs: Option<u64>,
    /// Send Web Push to browsers with no tab open: true or false [default: true].
    #[arg(long, env = "SOTONG_PUSH")]
    push: Option<bool>,
    /// The VAPID private key (base64url P-256 scalar) [default: made once and kept in the store].
    #[arg(long, env = "SOTONG_VAPID_PRIVATE_KEY", hide_env_values = true)]
    vapid_private_key: Option<String>,
    /// The VAPID contact (mailto: or https:) push services may reach you at
    /// [default: mailto:admin@localhost].
    #[arg(long, env = "SOTONG_PUSH_CONTACT")]
    push_contact: Option<String>,
    /// Allow http:// push endpoints on loopback addresses (tests and local push services only).
    #[arg(long, env = "SOTONG_PUSH_ALLOW_INSECURE_ENDPOINTS")]
    push_allow_insecure_endpoints: bool,
    /// At most one push per device and room within this many milliseconds; messages in between
    /// are counted into the next [default: 10000].
    #[arg(long, env = "SOTONG_PUSH_COLLAPSE_MS")]
    push_collapse_ms: Option<u64>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<Config>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => Config::default(),
        };
        macro_rules! set {
            ($($field:ident => $($path:ident).+),* $(,)?) => {
                $(if let Some(value) = self.$field { config.$($path).+ = value; })*
            };
        }
        set!(
            listen => listen,
            data_dir => data_dir,
            allowed_origins => allowed_origins,
            trusted_proxies => trusted_proxies,
            header_read_timeout_ms => limits.header_read_timeout_ms,
            max_frame_bytes => limits.max_frame_bytes,
            max_message_chars => limits.max_message_chars,
            max_subscriptions => limits.max_subscriptions,
            send_rate => limits.send_rate_per_sec,
            send_burst => limits.send_burst,
            outbound_queue => limits.outbound_queue,
            commit_window_ms => commit_window_ms,
            room_head_check_ms => room_head_check_ms,
            node_heartbeat_ms => node_heartbeat_ms,
            presence_grace_ms => presence_grace_ms,
            presence_interval_ms => presence_interval_ms,
            presence_ttl_ms => presence_ttl_ms,
            max_upload_bytes => max_upload_bytes,
            upload_ttl_secs => upload_ttl_secs,
            push => push.enabled,
            push_contact => push.contact,
            push_collapse_ms => push.collapse_ms,
        );
        if self.vapid_private_key.is_some() {
            config.push.vapid_private_key = self.vapid_private_key;
        }
        if self.push_allow_insecure_endpoints {
            config.push.allow_insecure_endpoints = true;
        }
        if self.files_url.is_some() {
            config.files_url = self.files_url;
        }
        if self.database_url.is_some() {
            config.database_url = self.database_url;
        }
        if self.redis_url.is_some() {
            config.redis_url = self.redis_url;
        }
        if self.web_dir.is_some() {
            config.web_dir = self.web_dir;
        }
        if self.edit_window_secs.is_some() {
            config.edit_window_secs = self.edit_window_secs;
        }
        if self.max_connections.is_some() {
            config.limits.max_connections = self.max_connections;
        }
        if self.jwt_secret.is_some() {
            config.jwt_secret = self.jwt_secret;
        }
        if self.registration.is_some() {
            config.registration = self.registration;
        }
        config
            .validate()
            .map_err(|reason| anyhow::anyhow!("invalid configuration: {reason}"))?;
        Ok(config)
    }
}

/// A CIDR, or a single address (as its /32 or /128).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text} is not an address or a CIDR (like 10.0.0.0/8)"))
}

/// Logs to stdout; not for `chat`, whose screen is the terminal (log lines would garble it).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("sotong=info,sotong_server=info,tower_http=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        // A line that cannot be written (stdout is a pipe whose reader is gone) is dropped.
        // Otherwise the subscriber reports it with `eprintln!`, which panics when stderr is
        // gone too: the task that logged dies, and a node whose signal task died that way
        // never stopped on SIGTERM.
        .log_internal_errors(false)
        .init();
}

/// A message's life allocates and frees many small buffers on different threads (decoded
/// frames, rendered JSON, queued frames); glibc's allocator spent about a tenth of the
/// server's CPU on them under load, mimalloc much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Chat(_)) {
        init_logging();
    }
    match cli.command {
        Command::Serve(args) => serve(args.into_config()?).await,
        Command::Bench(args) => sotong_cli::bench::run(args).await,
        Command::BenchUploads(args) => sotong_cli::uploads::run(args).await,
        Command::BenchPresence(args) => sotong_cli::presence::run(args).await,
        Command::Chat(args) => sotong_chat::run(args).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    sotong_server::run(listener, config, shutdown)
        .await
        .context("running the server")?;
    Ok(())
}

/// Cancels `shutdown` on SIGTERM or Ctrl-C.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    // Before the log line: stopping must not depend on the log being writable.
    shutdown.cancel();
    tracing::info!("shutdown requested");
}
