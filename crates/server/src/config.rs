//! Server configuration: one [`Config`], built once by the binary (defaults < TOML file <
//! `SOTONG_*` environment < flags), validated, then passed down explicitly.
//!
//! Plain data: it reaches no other part of the server.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `sotong serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder of the embedded SQLite store (unused with `database_url`).
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite: the store that several nodes can
    /// share. The database must exist; the server applies its migrations at start.
    pub database_url: Option<String>,
    /// `redis://…` for fan-out between nodes: publications reach the other nodes' connections
    /// through Redis pub/sub. Several nodes also need one shared store (PostgreSQL).
    pub redis_url: Option<String>,
    /// Start of the Redis channel names: nodes with the same prefix hear each other, so
    /// several deployments can share one Redis. TOML only.
    pub redis_channel_prefix: String,
    /// With Redis: how often this node tells the others that it lives, in milliseconds. A
    /// node silent for three beats counts as stopped, and the others tell their connections
    /// to resync (what it committed and had not published yet reached nobody).
    pub node_heartbeat_ms: u64,
    /// HS256 secret for application-issued JWTs; `jwt_secret` here or `auth.jwt_secret`.
    pub jwt_secret: Option<String>,
    /// Whether anyone may create an account with `POST /api/register`; unset, it is open
    /// without a JWT secret (password sign-up is then the only way in) and closed with one
    /// (the application's backend owns the usernames; see [`Config::registration`]).
    pub registration: Option<Registration>,
    /// Extra origins allowed to open `/ws` from a browser (the server's own origin always is).
    pub allowed_origins: Vec<String>,
    /// Folder of a built web app to serve at `/` instead of the one built into the binary.
    pub web_dir: Option<PathBuf>,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` headers are believed: the
    /// client's address is then the right-most one they name that is not itself a trusted proxy.
    /// Empty (the default): headers are ignored and the TCP peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a busy server lets a batch of messages gather before committing it (group
    /// commit), in milliseconds; 0 commits at once. Only applies while messages keep coming
    /// (the previous commit ended less than this long ago): a lone message is committed at
    /// once. Each commit is an fsync and wakes several threads, so under load a few
    /// milliseconds here trade that much latency for several times fewer fsyncs and wake-ups
    /// (measured at 1,000 messages/s in rooms of 10: server CPU per delivery 24 µs with 0,
    /// 17 µs with 2, 13 µs with 5).
    pub commit_window_ms: u64,
    /// How often this node compares the rooms its connections watch with the store's last
    /// `seq` of each, in milliseconds; 0 never does. A message committed on a node that died
    /// before publishing it reaches the watchers of its room within about twice this (see
    /// `heads`). One query per node per period, whatever the number of connections.
    pub room_head_check_ms: u64,
    /// How long a user stays `online` (or `away`) after its last connection closed before it
    /// shows `offline`, in milliseconds: a page reload does not flicker offline.
    pub presence_grace_ms: u64,
    /// The shortest time between two presence changes of one user that watchers hear of, in
    /// milliseconds: a client flipping away and back within it costs its watchers one frame
    /// (the last state), not one per flip.
    pub presence_interval_ms: u64,
    /// With Redis: how long a node's record of its users' presence lives unless refreshed
    /// (every third of it), in milliseconds. A node that dies leaves its users `online` for
    /// at most this long; then another node shows them `offline`.
    pub presence_ttl_ms: u64,
    /// How long after it was sent a message may still be edited, in seconds; `None` (the
    /// default): always. Deletes have no window.
    pub edit_window_secs: Option<u64>,
    /// Where attachments' bytes are stored: `file:///folder`, or `s3://BUCKET/PREFIX` with the
    /// usual `AWS_*` environment variables (several nodes share it); `None`: the folder
    /// `files` of `data_dir` (also with PostgreSQL).
    pub files_url: Option<String>,
    /// The largest attachment upload, in bytes (default 25 MiB).
    pub max_upload_bytes: u64,
    /// How long an upload may wait to be sent with a message before it is deleted, in seconds.
    pub upload_ttl_secs: u64,
    /// How often unsent uploads older than `upload_ttl_secs` are looked for, in milliseconds.
    pub upload_cleanup_ms: u64,
    /// Token settings.
    pub auth: AuthConfig,
    /// Limits that protect the server and other users from one client.
    pub limits: Limits,
    /// Web Push.
    pub push: PushConfig,
}

/// Web Push settings (`[push]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whether the server sends Web Push at all (and offers `GET /api/push/key`).
    pub enabled: bool,
    /// The VAPID private key (the P-256 scalar, base64url, as `web-push generate-vapid-keys`
    /// prints it). `None` (the default): the first node makes one and keeps it in the store,
    /// where every other node finds it.
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim: how a push service reaches the operator (`mailto:` or `https:`).
    pub contact: String,
    /// Lets push endpoints be `http://` and on loopback addresses (127.0.0.0/8, ::1). For
    /// tests and local push services only: without it an endpoint must be `https://` and
    /// resolve to public addresses (never private, link-local or loopback ones).
    pub allow_insecure_endpoints: bool,
    /// At most one push per device and room within this many milliseconds; the messages in
    /// between are counted into the next one (per node, in memory).
    pub collapse_ms: u64,
    /// How long one request to a push service may take, in milliseconds.
    pub timeout_ms: u64,
    /// Requests to push services in flight at once (per node).
    pub concurrency: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            vapid_private_key: None,
            contact: "mailto:admin@localhost".into(),
            allow_insecure_endpoints: false,
            collapse_ms: 10_000,
            timeout_ms: 10_000,
            concurrency: 32,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_channel_prefix: "sotong".into(),
            node_heartbeat_ms: 2000,
            jwt_secret: None,
            registration: None,
            allowed_origins: Vec::new(),
            web_dir: None,
            trusted_proxies: Vec::new(),
            commit_window_ms: 5,
            room_head_check_ms: 2000,
            presence_grace_ms: 5000,
            presence_interval_ms: 1000,
            presence_ttl_ms: 30_000,
            edit_window_secs: None,
            files_url: None,
            max_upload_bytes: 25 * 1024 * 1024,
            upload_ttl_secs: 3600,
            upload_cleanup_ms: 60_000,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            push: PushConfig::default(),
        }
    }
}

impl Config {
    /// The JWT secret, from either place it may be configured.
    pub fn jwt_secret(&self) -> Option<&str> {
        self.jwt_secret
            .as_deref()
            .or(self.auth.jwt_secret.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// Whether password sign-up is open, as configured or by default: open without a JWT
    /// secret, closed with one. With a JWT secret the application's backend owns the
    /// usernames, and open sign-up would let anyone take a name before the application's user
    /// of that name first signs in; that user's JWT would then be refused (identities never
    /// merge), so the squatter would lock them out.
    pub fn registration(&self) -> Registration {
        self.registration.unwrap_or(if self.jwt_secret().is_some() {
            Registration::Closed
        } else {
            Registration::Open
        })
    }

    /// Checks the settings that could not be checked by their types.
    ///
    /// # Errors
    /// A description of the first setting that is not acceptable.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(
                    "--database-url must be a postgres:// (or postgresql://) URL; \
                     omit it to use the embedded SQLite store"
                        .into(),
                );
            }
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                return Err("--redis-url must be a redis:// URL".into());
            }
        }
        if self.redis_channel_prefix.is_empty()
            || self.redis_channel_prefix.chars().any(char::is_whitespace)
        {
            return Err("redis_channel_prefix must be non-empty, without spaces".into());
        }
        if self.presence_ttl_ms < 300 {
            return Err("presence_ttl_ms must be at least 300".into());
        }
        if self.node_heartbeat_ms == 0 {
            return Err("node_heartbeat_ms must be positive".into());
        }
        if let Some(secret) = self.jwt_secret() {
            if secret.len() < 16 {
                return Err("the JWT secret must be at least 16 bytes".into());
            }
        }
        if self.max_upload_bytes == 0 || self.upload_ttl_secs == 0 || self.upload_cleanup_ms == 0 {
            return Err(
                "max_upload_bytes, upload_ttl_secs and upload_cleanup_ms must be positive".into(),
            );
        }
        if let Some(url) = &self.files_url {
            if !(url.starts_with("file://") || url.starts_with("s3://")) {
                return Err("--files-url must be a file:// folder or an s3://bucket/prefix".into());
            }
        }
        let l = &self.limits;
        if l.max_frame_bytes < 1024 || l.max_message_chars == 0 || l.outbound_queue == 0 {
            return Err("limits are too small to be usable".into());
        }
        if l.header_read_timeout_ms == 0 || l.request_body_timeout_ms == 0 {
            return Err(
                "header_read_timeout_ms and request_body_timeout_ms must be positive".into(),
            );
        }
        if l.send_rate_per_sec == 0 || l.send_burst == 0 {
            return Err("send_rate_per_sec and send_burst must be positive".into());
        }
        if l.rooms_per_hour == 0 || l.members_added_per_hour == 0 {
            return Err("rooms_per_hour and members_added_per_hour must be positive".into());
        }
        Ok(())
    }
}

/// Whether anyone may sign up with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// `POST /api/register` creates accounts.
    Open,
    /// `POST /api/register` answers `403 registration_closed`.
    Closed,
}

impl std::str::FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Registration::Open),
            "closed" => Ok(Registration::Closed),
            other => Err(format!("registration is open or closed, not {other:?}")),
        }
    }
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret for application-issued JWTs.
    pub jwt_secret: Option<String>,
    /// How long a login session token lives, in seconds.
    pub session_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            session_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// Per-connection and per-request limits. Each has a default that no honest client reaches.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest STOMP frame accepted (bytes); more is `ERROR too_large` and close.
    pub max_frame_bytes: usize,
    /// Longest message text (Unicode scalar values); more is a `too_large` error event.
    pub max_message_chars: usize,
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions: usize,
    /// Sustained messages per second per user, STOMP SENDs and HTTP posts and read marks
    /// together, over all the user's connections (token bucket refill rate).
    pub send_rate_per_sec: u32,
    /// Burst of messages per user (token bucket size).
    pub send_burst: u32,
    /// Groups created plus direct rooms opened per user and hour (also the burst).
    pub rooms_per_hour: u32,
    /// Other users one user may add to groups per hour, at creation or later (also the burst).
    pub members_added_per_hour: u32,
    /// Frames queued for one connection before it is a slow consumer and is closed.
    pub outbound_queue: usize,
    /// Shortest heart-beat interval the server agrees to, either way (ms).
    pub heartbeat_min_ms: u64,
    /// Heart-beat interval the server asks of clients (ms); 0 asks for none.
    pub heartbeat_want_ms: u64,
    /// Time a new socket has to send CONNECT (ms).
    pub connect_timeout_ms: u64,
    /// Time a started frame has to complete (ms): slow-drip ("slowloris") senders are closed.
    pub frame_timeout_ms: u64,
    /// Open connections one user may hold (on one node).
    pub max_connections_per_user: usize,
    /// Open WebSockets one IP address may hold.
    pub max_connections_per_ip: usize,
    /// Login and registration attempts per IP address: sustained per minute.
    pub auth_attempts_per_minute: u32,
    /// Failed logins per username and address before that pair is slowed down (then one more
    /// per minute); the owner signing in from another address is not affected.
    pub failed_logins_per_user: u32,
    /// Time an HTTP connection has to send a request's headers, and the longest an idle
    /// keep-alive connection is kept (ms): slow-header ("slowloris") clients are cut off.
    pub header_read_timeout_ms: u64,
    /// Time a request has to send its body (ms).
    pub request_body_timeout_ms: u64,
    /// Open connections (HTTP and WebSocket) in all; default: the open-file limit less 64.
    pub max_connections: Option<usize>,
    /// Plain HTTP connections one IP address may hold; default: a quarter of the total.
    pub max_http_connections_per_ip: Option<usize>,
    /// WebSockets one IP address may hold before their `CONNECT` is answered; default: a
    /// quarter of the total.
    pub max_pending_connections_per_ip: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_message_chars: 4000,
            max_subscriptions: 256,
            send_rate_per_sec: 50,
            send_burst: 100,
            rooms_per_hour: 100,
            members_added_per_hour: 500,
            outbound_queue: 1024,
            heartbeat_min_ms: 1000,
            heartbeat_want_ms: 10_000,
            connect_timeout_ms: 10_000,
            frame_timeout_ms: 30_000,
            max_connections_per_user: 64,
            max_connections_per_ip: 4096,
            auth_attempts_per_minute: 120,
            failed_logins_per_user: 10,
            header_read_timeout_ms: 10_000,
            request_body_timeout_ms: 30_000,
            max_connections: None,
            max_http_connections_per_ip: None,
            max_pending_connections_per_ip: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_open_without_a_jwt_secret_and_closed_with_one_unless_set() {
        let mut config = Config::default();
        assert_eq!(config.registration(), Registration::Open);
        config.jwt_secret = Some("a-secret-of-sixteen-bytes".into());
        assert_eq!(config.registration(), Registration::Closed);
        config.registration = Some(Registration::Open);
        assert_eq!(config.registration(), Registration::Open);
        assert_eq!("Closed".parse(), Ok(Registration::Closed));
        assert!("maybe".parse::<Registration>().is_err());
        let from_file: Config =
            serde_json::from_value(serde_json::json!({"registration": "closed"})).expect("config");
        assert_eq!(from_file.registration, Some(Registration::Closed));
    }

    #[test]
    fn a_database_url_must_name_postgresql() {
        let mut config = Config::default();
        for url in ["postgres://db/sotong", "postgresql://u:p@db:5432/sotong"] {
            config.database_url = Some(url.into());
            assert_eq!(config.validate(), Ok(()), "{url}");
        }
        for url in ["mysql://db/sotong", "sotong.db", ""] {
            config.database_url = Some(url.into());
            assert!(config.validate().is_err(), "{url}");
        }
    }
}
