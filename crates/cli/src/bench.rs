//! `sotong bench`: a load generator for sotong or any STOMP-over-WebSocket broker.
//!
//! N connections (spread over loopback source addresses) in rooms of K consecutive
//! connections, each subscribed to its room and to a per-user notification destination. P of
//! them publish, taking turns, at a total rate R (an open loop: the schedule never waits for
//! the server), with the send time in every body. After a warm-up, one measurement window of
//! D seconds; or, with `--ramp`, a window per rate step until the p99 bound breaks. It reports
//! sends, deliveries per second, latency percentiles from an HDR histogram, receipt latency,
//! errors, the server's CPU and memory (given its pid), and its own CPU, as one JSON line.
//!
//! Against a cluster, the publishers connect to one node (`--url`) and everyone else to the
//! others (`--receive-url`), so deliveries cross the nodes' broker; the report then counts
//! those, sums the CPU and memory of every node (`--server-pid`, repeated), and can follow
//! Redis itself (`--redis-stats`: its CPU and its commands and bytes per SEND).
//!
//! The bench runs on its own small runtime (one thread by default) so that, sharing the
//! machine with the server, it costs as little CPU per delivery as it can, and reports that
//! cost. See [`BenchArgs`] for the knobs.
//!
//! # Layout
//!
//! * `setup.rs`: the target, the profiles (sotong's HTTP provisioning with JWTs, or a plain
//!   broker's destination templates), opening and subscribing connections.
//! * `conn.rs`: one connection's task under load: the poll loop, SEND frames, deliveries.
//! * `scan.rs`: allocation-free frame scanning and timestamp extraction.
//! * `pace.rs`: the open-loop schedule.
//! * `stats.rs`: windows, histograms, counters.
//! * `sys.rs`: `/proc` sampling (CPU, RSS, load average).
//! * `redis_info.rs`: Redis's `INFO` counters, for a cluster's broker.
//! * `plot.rs`: the SVG/PNG latency plot.

mod conn;
mod pace;
mod plot;
mod redis_info;
mod scan;
pub(crate) mod setup;
mod stats;
pub(crate) mod sys;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use conn::{now_ns, Connection, Publisher};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use pace::{publisher_connections, Pacer};
use redis_info::{RedisInfo, RedisTarget, RedisUse};
use serde::Serialize;
use serde_json::json;
pub(crate) use setup::jwt;
use setup::{Layout, SotongProfile, StompProfile, Target};
use stats::{percentile_curve, LatencySummary, Recorder};
use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use sys::Proc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Which kind of server the bench talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// sotong: users as HS256 JWTs, rooms made through the HTTP API, `/topic/rooms/{id}`,
    /// `/user/queue/notifications` and `/user/queue/errors`, SENDs to `/app/rooms/{id}`.
    Sotong,
    /// Any STOMP broker (RabbitMQ Web-STOMP, …): login/passcode and destination templates.
    Stomp,
}

/// `sotong bench`: load-test sotong or any STOMP-over-WebSocket broker.
///
/// Rates are SENDs per second, all publishers together; every SEND is delivered to each
/// member of its room (the sender included), so deliveries per second are about rate × room
/// size.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// WebSocket URL of the server (ws:// only; loopback unless --allow-remote). Against a
    /// cluster: the node the publishers connect to, and where users and rooms are made.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// WebSocket URL of another node of the same cluster, where the connections that do not
    /// publish connect instead of --url, taking turns when repeated. With one publisher per
    /// room (-p = connections / room size), every delivery but the sender's own copy then
    /// crosses from one node to another.
    #[arg(long = "receive-url", value_name = "URL")]
    pub receive_urls: Vec<String>,
    /// What kind of server it is.
    #[arg(long, value_enum, default_value_t = Profile::Sotong)]
    pub profile: Profile,
    /// sotong: the server's HS256 JWT secret (its --jwt-secret), to sign the bench users' tokens.
    #[arg(long, env = "SOTONG_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// stomp: CONNECT login.
    #[arg(long, default_value = "guest")]
    pub login: String,
    /// stomp: CONNECT passcode.
    #[arg(long, default_value = "guest")]
    pub passcode: String,
    /// stomp: CONNECT host header (RabbitMQ: the virtual host).
    #[arg(long, default_value = "/")]
    pub vhost: String,
    /// stomp: the room destination each member subscribes to; {room}, {user} and {conn} are
    /// filled in.
    #[arg(long, default_value = "/exchange/amq.topic/room.{room}")]
    pub room_destination: String,
    /// stomp: where publishers SEND [default: the room destination].
    #[arg(long)]
    pub publish_destination: Option<String>,
    /// stomp: the per-user notification destination everyone also subscribes to ("" for none).
    #[arg(long, default_value = "/exchange/amq.topic/user.{user}")]
    pub notify_destination: String,
    /// Connections (one user each).
    #[arg(short = 'c', long, default_value_t = 100)]
    pub connections: usize,
    /// Members per room; the connections must divide into whole rooms.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub room_size: usize,
    /// Publishing connections, spread evenly [default: all of them].
    #[arg(short = 'p', long)]
    pub publishers: Option<usize>,
    /// SENDs per second, all publishers together (0: only hold the connections). With --ramp,
    /// the first step's rate.
    #[arg(short = 'r', long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of measurement (per step with --ramp).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring (per step with --ramp).
    #[arg(short = 'w', long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Seconds to wait for late deliveries after a window (at most the warm-up with --ramp).
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,
    /// Body size of each SEND in bytes (JSON {"text": …} carrying the send time).
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Ask for a RECEIPT on every SEND and report receipt latency (sotong: after the commit).
    #[arg(long)]
    pub receipts: bool,
    /// Raise the rate step by step until a step is not sustained; report the highest that was.
    #[arg(long)]
    pub ramp: bool,
    /// Each ramp step's rate is the previous one times this.
    #[arg(long, default_value_t = 1.25)]
    pub ramp_factor: f64,
    /// Highest rate a ramp tries.
    #[arg(long)]
    pub ramp_max: Option<f64>,
    /// Most steps a ramp takes.
    #[arg(long, default_value_t = 12)]
    pub ramp_steps: usize,
    /// A step is sustained while its p99 (of receipts with --receipts, else of deliveries)
    /// stays at or under this, with no errors, no lost deliveries and the rate achieved.
    #[arg(long, default_value_t = 50.0)]
    pub p99_bound_ms: f64,
    /// Source addresses 127.0.0.1 … 127.0.0.N the connections are spread over.
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    /// Connections (and HTTP requests) being set up at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Runtime worker threads of the bench (1: a single-threaded runtime, the leanest).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// With one worker: sleep this many microseconds between polls of the sockets instead of
    /// waking up for every event. On a VM a wake-up costs tens of microseconds, so at low rates
    /// this cuts the bench's CPU per delivery several times, at the price of up to this much
    /// added latency (0: wake for every event).
    #[arg(long, default_value_t = 0)]
    pub batch_us: u64,
    /// The server's process id, to report its CPU time and memory. Repeat it for every node
    /// of a cluster: the report gives their sum and each one.
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pids: Vec<u32>,
    /// Another process to report the CPU time of, beside the server and outside its sum, as
    /// NAME=PID (repeatable): what the other parts of a deployment spend per delivery.
    #[arg(long = "extra-pid", value_name = "NAME=PID", value_parser = parse_named_pid)]
    pub extra_pids: Vec<NamedPid>,
    /// A Redis to read `INFO` from at each window's edges (redis://[user:password@]host:port,
    /// loopback unless --allow-remote): its commands and bytes in and out per SEND, and its
    /// CPU time (as the extra process `redis`, unless one is named so already).
    #[arg(long, value_name = "URL")]
    pub redis_stats: Option<String>,
    /// A name for this run in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Write a latency-by-percentile plot here (.svg, or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also append the JSON line to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Bench usernames are PREFIX-0, PREFIX-1, … (sotong creates them on first use and a
    /// later run reuses them).
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Allow a server that is not on this machine's loopback network.
    #[arg(long)]
    pub allow_remote: bool,
}

/// A process named for the report: `--extra-pid NAME=PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPid {
    /// How the report names it (`redis`, `postgres`, …).
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

fn parse_named_pid(text: &str) -> Result<NamedPid, String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("{text}: expected NAME=PID"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!("{text}: NAME is letters, digits and _ . - only"));
    }
    let pid = pid
        .parse()
        .map_err(|_| format!("{text}: PID is a process id"))?;
    Ok(NamedPid {
        name: name.to_string(),
        pid,
    })
}

impl BenchArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.connections == 0 || self.room_size == 0 {
            bail!("--connections and --room-size must be positive");
        }
        if !self.connections.is_multiple_of(self.room_size) {
            bail!(
                "--connections ({}) must be a multiple of --room-size ({})",
                self.connections,
                self.room_size
            );
        }
        if self.profile == Profile::Sotong && self.room_size == 1 {
            bail!("sotong rooms have at least 2 members");
        }
        let finite = [
            self.rate,
            self.duration,
            self.warmup,
            self.drain,
            self.p99_bound_ms,
        ];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
            bail!("rates and durations must be finite and not negative");
        }
        if self.duration <= 0.0 {
            bail!("--duration must be positive");
        }
        if self.ramp && (self.rate <= 0.0 || self.ramp_factor <= 1.0 || self.ramp_steps == 0) {
            bail!("--ramp needs --rate > 0, --ramp-factor > 1 and --ramp-steps > 0");
        }
        if self.workers == 0 || self.connect_concurrency == 0 {
            bail!("--workers and --connect-concurrency must be positive");
        }
        if self.batch_us > 0 && self.workers != 1 {
            bail!("--batch-us needs --workers 1");
        }
        if self.batch_us > 100_000 {
            bail!("--batch-us is at most 100000 (0.1 s)");
        }
        setup::check_prefix(&self.user_prefix, self.connections)?;
        let mut names = HashSet::new();
        if let Some(dup) = self.extra_pids.iter().find(|e| !names.insert(&e.name)) {
            bail!("--extra-pid names {} twice", dup.name);
        }
        let mut pids = HashSet::new();
        if let Some(dup) = self.server_pids.iter().find(|p| !pids.insert(**p)) {
            bail!("--server-pid {dup} is given twice");
        }
        Ok(())
    }

    /// The rate of each step: one, or the ramp's.
    fn rates(&self) -> Vec<f64> {
        if !self.ramp {
            return vec![self.rate];
        }
        let max = self.ramp_max.unwrap_or(f64::INFINITY);
        std::iter::successors(Some(self.rate), |r| Some(r * self.ramp_factor))
            .take(self.ramp_steps)
            .take_while(|r| *r <= max * 1.000_001)
            .map(|r| r.round().max(1.0))
            .collect()
    }

    fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            format!(
                "{:?} c={} k={}",
                self.profile, self.connections, self.room_size
            )
            .to_lowercase()
        })
    }
}

/// Runs the bench described by `args` and prints its JSON line on standard output (and
/// progress and a summary on standard error).
///
/// The bench gets a runtime of its own on a thread of its own, `args.workers` threads wide,
/// whatever runtime calls this.
///
/// # Errors
/// Bad arguments, a server that cannot be reached or provisioned, no connection that could be
/// opened, or a report that cannot be written. Load that the server does not sustain is not
/// an error: it is what the report says.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    args.check()?;
    let (done, result) = tokio::sync::oneshot::channel();
    let workers = args.workers;
    std::thread::Builder::new()
        .name("sotong-bench".into())
        .spawn(move || {
            let runtime = if workers == 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("sotong-bench")
                    .enable_all()
                    .build()
            };
            let outcome = match runtime {
                Ok(runtime) => runtime.block_on(bench(args)),
                Err(err) => Err(err).context("starting the bench runtime"),
            };
            let _ = done.send(outcome);
        })
        .context("starting the bench thread")?;
    result.await.context("the bench thread died")?
}

/// Progress on standard error: a bar while setting up, a status line while loading.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let bar = if enabled {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        Progress { bar }
    }

    fn stage(&self, message: &str, length: u64) {
        self.bar.reset();
        self.bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} ({elapsed})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        self.bar.set_length(length);
        self.bar.set_position(0);
        self.bar.set_message(message.to_string());
    }

    fn status(&self, message: String) {
        if self.bar.length() != Some(0) {
            self.bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            self.bar.set_length(0);
        }
        self.bar.set_message(message);
        self.bar.tick();
    }

    fn line(&self, text: &str) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

/// Unix nanoseconds for a tokio instant, through one pair of readings taken together.
#[derive(Debug, Clone, Copy)]
struct Clock {
    instant: Instant,
    unix_ns: u64,
}

impl Clock {
    fn now() -> Self {
        Clock {
            instant: Instant::now(),
            unix_ns: now_ns(),
        }
    }

    fn unix_ns(&self, at: Instant) -> u64 {
        if at >= self.instant {
            self.unix_ns + at.duration_since(self.instant).as_nanos() as u64
        } else {
            self.unix_ns
                .saturating_sub(self.instant.duration_since(at).as_nanos() as u64)
        }
    }
}

/// The processes the report follows: the server's (every node of a cluster), for CPU and
/// memory, summed and each; and others beside it (Redis, say), for CPU, outside the sum.
#[derive(Debug, Clone, Default)]
struct Watched {
    servers: Vec<u32>,
    extras: Vec<NamedPid>,
}

impl Watched {
    /// The servers' resident memory together, when every one of them can be read.
    fn rss_kb(&self) -> Option<u64> {
        if self.servers.is_empty() {
            return None;
        }
        self.servers
            .iter()
            .map(|pid| Proc::Pid(*pid).rss_kb().ok())
            .sum()
    }

    /// Each server's resident memory, by pid, when there are several.
    fn rss_kb_by_pid(&self) -> BTreeMap<String, u64> {
        if self.servers.len() < 2 {
            return BTreeMap::new();
        }
        self.servers
            .iter()
            .filter_map(|pid| Some((pid.to_string(), Proc::Pid(*pid).rss_kb().ok()?)))
            .collect()
    }
}

/// The sum of some CPU readings, when there are some and every one was read.
fn total(readings: &[Option<f64>]) -> Option<f64> {
    if readings.is_empty() {
        return None;
    }
    readings.iter().copied().sum()
}

/// CPU seconds of the watched processes and of the bench, and Redis's counters, at one
/// moment.
#[derive(Debug, Clone)]
struct CpuSample {
    /// In the order of [`Watched::servers`].
    servers: Vec<Option<f64>>,
    /// In the order of [`Watched::extras`].
    extras: Vec<Option<f64>>,
    tool: Option<f64>,
    redis: Option<RedisInfo>,
}

impl CpuSample {
    async fn take(watched: &Watched, redis: Option<&RedisTarget>) -> Self {
        let cpu = |pid: u32| Proc::Pid(pid).cpu_secs().ok();
        let mut sample = CpuSample {
            servers: watched.servers.iter().map(|pid| cpu(*pid)).collect(),
            extras: watched.extras.iter().map(|e| cpu(e.pid)).collect(),
            tool: Proc::Myself.cpu_secs().ok(),
            redis: None,
        };
        if let Some(redis) = redis {
            sample.redis = redis.sample().await.ok();
        }
        sample
    }
}

/// CPU use over a window of each process that could be read at both ends, keyed by `key`.
fn cpu_uses<K: Ord>(
    keys: impl Iterator<Item = K>,
    start: &[Option<f64>],
    end: &[Option<f64>],
    secs: f64,
    deliveries: u64,
) -> BTreeMap<K, CpuUse> {
    keys.zip(start.iter().zip(end))
        .filter_map(|(key, (a, b))| Some((key, CpuUse::between(*a, *b, secs, deliveries)?)))
        .collect()
}

/// CPU use over a window.
#[derive(Debug, Clone, Copy, Serialize)]
struct CpuUse {
    /// CPU seconds used in the window.
    cpu_secs: f64,
    /// Average cores busy.
    cores: f64,
    /// CPU microseconds per delivery received in the window.
    us_per_delivery: Option<f64>,
}

impl CpuUse {
    fn between(start: Option<f64>, end: Option<f64>, secs: f64, deliveries: u64) -> Option<Self> {
        let cpu = end? - start?;
        Some(CpuUse {
            cpu_secs: round3(cpu),
            cores: round3(cpu / secs),
            us_per_delivery: (deliveries > 0).then(|| round3(cpu * 1e6 / deliveries as f64)),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One measurement window's figures.
#[derive(Debug, Clone, Serialize)]
struct StepReport {
    /// Offered SENDs per second.
    rate: f64,
    /// Offered deliveries per second (rate × fan-out).
    offered_deliveries_per_sec: f64,
    secs: f64,
    sends: u64,
    sends_per_sec: f64,
    /// Deliveries the window's SENDs should cause.
    expected_deliveries: u64,
    /// Deliveries of the window's SENDs that came (by the end of the drain).
    deliveries: u64,
    missing_deliveries: u64,
    /// Deliveries received during the window, per second.
    deliveries_per_sec: f64,
    latency: LatencySummary,
    receipts: Option<LatencySummary>,
    /// How late the bench made its SENDs against the schedule: its own lag.
    send_lag: LatencySummary,
    errors: u64,
    /// Deliveries received during the window on a connection of another node than the
    /// publishers', per second (with --receive-url).
    #[serde(skip_serializing_if = "Option::is_none")]
    across_nodes_deliveries_per_sec: Option<f64>,
    /// The server's CPU: every node's together.
    server_cpu: Option<CpuUse>,
    /// Each node's CPU, by pid (with several --server-pid).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    server_cpu_by_pid: BTreeMap<String, CpuUse>,
    /// The CPU of the other processes followed (--extra-pid, Redis), by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra_cpu: BTreeMap<String, CpuUse>,
    tool_cpu: Option<CpuUse>,
    /// Every node's resident memory together after the window's drain.
    server_rss_kb: Option<u64>,
    /// Each node's, by pid (with several --server-pid).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    server_rss_kb_by_pid: BTreeMap<String, u64>,
    /// What Redis did in the window (with --redis-stats).
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<RedisUse>,
    /// Rate achieved, nothing lost, no errors, p99 within the bound.
    sustained: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    why_not: Vec<String>,
    #[serde(skip)]
    curve: Vec<(f64, f64)>,
}

impl StepReport {
    fn line(&self, index: usize) -> String {
        let receipts = self
            .receipts
            .map(|r| format!(" | receipts p99 {} ms", r.p99_ms))
            .unwrap_or_default();
        let cpu = |c: &Option<CpuUse>| {
            c.as_ref()
                .and_then(|c| c.us_per_delivery)
                .map_or("-".into(), |us| format!("{us:.1} µs"))
        };
        let extras: String = self
            .extra_cpu
            .iter()
            .map(|(name, used)| format!(" {name} {}", cpu(&Some(*used))))
            .collect();
        format!(
            "step {}: rate {}/s | sends {:.0}/s | deliveries {:.0}/s | p50 {} p99 {} p99.9 {} max {} ms{} | lost {} | errors {} | server {}{extras} tool {} per delivery | {}",
            index + 1,
            self.rate,
            self.sends_per_sec,
            self.deliveries_per_sec,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.p999_ms,
            self.latency.max_ms,
            receipts,
            self.missing_deliveries,
            self.errors,
            cpu(&self.server_cpu),
            cpu(&self.tool_cpu),
            if self.sustained {
                "sustained".to_string()
            } else {
                format!("NOT sustained: {}", self.why_not.join("; "))
            }
        )
    }
}

/// A connection that is open, with its place in the plan.
struct Opened {
    index: usize,
    room: usize,
    /// Which target it opened to: 0 is --url, 1 … the --receive-url ones.
    home: usize,
    ws: setup::Ws,
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let target = Target::resolve(&args.url, args.allow_remote).await?;
    let mut receivers = Vec::with_capacity(args.receive_urls.len());
    for url in &args.receive_urls {
        receivers.push(Target::resolve(url, args.allow_remote).await?);
    }
    let progress = Progress::new(!args.no_progress);
    let mut watched = Watched {
        servers: args.server_pids.clone(),
        extras: args.extra_pids.clone(),
    };
    for pid in &watched.servers {
        Proc::Pid(*pid)
            .cpu_secs()
            .with_context(|| format!("reading /proc/{pid} (--server-pid)"))?;
    }
    for extra in &watched.extras {
        Proc::Pid(extra.pid)
            .cpu_secs()
            .with_context(|| format!("reading /proc/{} (--extra-pid {})", extra.pid, extra.name))?;
    }
    let redis = match &args.redis_stats {
        Some(url) => Some(RedisTarget::resolve(url, args.allow_remote).await?),
        None => None,
    };
    if let Some(redis) = &redis {
        let info = redis
            .sample()
            .await
            .context("reading INFO (--redis-stats)")?;
        if !watched.extras.iter().any(|e| e.name == "redis") {
            match info.process_id {
                Some(pid) if Proc::Pid(pid).cpu_secs().is_ok() => watched.extras.push(NamedPid {
                    name: "redis".into(),
                    pid,
                }),
                _ => progress
                    .line("Redis's process cannot be read here: its CPU is left out of the report"),
            }
        }
    }
    let load_before = sys::load_average();
    let layout = Layout {
        connections: args.connections,
        room_size: args.room_size,
        prefix: args.user_prefix.clone(),
    };
    let rates = args.rates();
    let run_secs = (args.warmup + args.duration + args.drain) * rates.len() as f64;

    // Who connects as whom, in which room.
    let plans = match args.profile {
        Profile::Sotong => {
            let secret = args
                .jwt_secret
                .clone()
                .context("the sotong profile needs --jwt-secret (the server's)")?;
            let profile = SotongProfile {
                jwt_secret: secret,
                token_ttl: Duration::from_secs_f64(run_secs + 3600.0),
            };
            // One request per user: GET /api/me for members, the room request for owners.
            progress.stage("provisioning", args.connections as u64);
            setup::provision_sotong(&target, &profile, &layout, args.connect_concurrency, || {
                progress.bar.inc(1)
            })
            .await?
        }
        Profile::Stomp => {
            let profile = StompProfile {
                login: args.login.clone(),
                passcode: args.passcode.clone(),
                vhost: args.vhost.clone(),
                room_destination: args.room_destination.clone(),
                publish_destination: args
                    .publish_destination
                    .clone()
                    .unwrap_or_else(|| args.room_destination.clone()),
                notify_destination: args.notify_destination.clone(),
            };
            setup::plan_stomp(&profile, &layout)
        }
    };

    // Who publishes, and so which node each connection opens to.
    let publishing: HashSet<usize> = publisher_connections(
        args.connections,
        args.publishers.unwrap_or(args.connections),
    )
    .into_iter()
    .collect();
    let homes = setup::connection_homes(args.connections, &publishing, receivers.len());
    let nodes: Vec<&Target> = std::iter::once(&target).chain(&receivers).collect();

    // Memory before and after the connections, the server otherwise idle.
    let rss_before = watched.rss_kb();
    let rss_before_by_pid = watched.rss_kb_by_pid();
    let sources = setup::source_addresses(args.source_addrs);
    progress.stage("connecting", plans.len() as u64);
    let setup_started = Instant::now();
    let patience = Duration::from_secs(60);
    let mut attempts = futures_util::stream::iter(plans.iter().enumerate().map(|(i, plan)| {
        let node = nodes[homes[i]];
        let source = sources[i % sources.len()];
        async move {
            (
                i,
                plan.room,
                setup::open(node, source, plan, patience).await,
            )
        }
    }))
    .buffer_unordered(args.connect_concurrency);
    let mut opened = Vec::with_capacity(plans.len());
    let mut failures = Vec::new();
    let mut failed = 0usize;
    while let Some((index, room, result)) = attempts.next().await {
        match result {
            Ok(ws) => opened.push(Opened {
                index,
                room,
                home: homes[index],
                ws,
            }),
            Err(err) => {
                failed += 1;
                if failures.len() < 5 {
                    failures.push(format!("{err:#}"));
                }
            }
        }
        progress.bar.inc(1);
    }
    drop(attempts);
    let setup_secs = setup_started.elapsed().as_secs_f64();
    if opened.is_empty() {
        bail!(
            "no connection could be opened: {}",
            failures.first().map_or("", String::as_str)
        );
    }
    progress.line(&format!(
        "{}: {} connections open ({} failed) in {:.1} s",
        args.label(),
        opened.len(),
        failed,
        setup_secs
    ));
    // Let the server finish what the set-up started before reading its memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = watched.rss_kb();
    let rss_connected_by_pid = watched.rss_kb_by_pid();
    let mut open_by_home = vec![0usize; nodes.len()];
    for o in &opened {
        open_by_home[o.home] += 1;
    }

    // The load.
    let recorder = Arc::new(Recorder::default());
    let mut live = vec![0u64; args.connections / args.room_size];
    for o in &opened {
        live[o.room] += 1;
    }
    let mut publishers = Vec::new();
    let mut holders = Vec::with_capacity(opened.len());
    let mut tasks = Vec::with_capacity(opened.len());
    for o in opened {
        let (tx, rx) = mpsc::unbounded_channel();
        let publisher = publishing.contains(&o.index).then(|| {
            Publisher::new(
                &plans[o.index].publish_to,
                args.body_bytes,
                args.receipts,
                live[o.room],
            )
        });
        if publisher.is_some() {
            publishers.push(tx);
        } else {
            holders.push(tx);
        }
        tasks.push(tokio::spawn(
            Connection::new(o.ws, rx, publisher, recorder.clone(), o.home != 0).run(),
        ));
    }
    let fanout = if publishers.is_empty() {
        0.0
    } else {
        args.room_size as f64
    };
    let batcher = (args.batch_us > 0)
        .then(|| tokio::spawn(batch_polls(Duration::from_micros(args.batch_us))));
    let mut driver = Driver {
        args: &args,
        recorder: &recorder,
        publishers: &publishers,
        progress: &progress,
        watched: &watched,
        redis: redis.as_ref(),
        clock: Clock::now(),
        pacer: Pacer::new(Instant::now(), 0.0),
    };
    let steps = driver.drive(&rates, fanout).await;
    if let Some(batcher) = batcher {
        batcher.abort();
    }
    let rss_end = watched.rss_kb();
    let rss_end_by_pid = watched.rss_kb_by_pid();
    let tool_rss = Proc::Myself.rss_kb().ok();

    // Let go of the connections: each task ends when its command channel closes.
    drop(publishers);
    drop(holders);
    let closing = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(Duration::from_secs(10), closing).await;
    progress.bar.finish_and_clear();

    let sustained: Vec<&StepReport> = steps.iter().filter(|s| s.sustained).collect();
    let result = if args.ramp {
        sustained.last().copied()
    } else {
        steps.last()
    };
    let open = args.connections - failed;
    let t = &recorder.totals;
    let report = json!({
        "tool": "sotong bench",
        "version": env!("CARGO_PKG_VERSION"),
        "label": args.label(),
        "profile": format!("{:?}", args.profile).to_lowercase(),
        "url": args.url,
        "receive_urls": args.receive_urls,
        "server_pids": args.server_pids,
        "extra_pids": watched
            .extras
            .iter()
            .map(|e| (e.name.clone(), e.pid))
            .collect::<BTreeMap<_, _>>(),
        "machine": {
            "cpus": sys::cpus(),
            "load_before": load_before,
            "load_after": sys::load_average(),
            "bench_workers": args.workers,
            "bench_batch_us": args.batch_us,
        },
        "connections": {
            "target": args.connections,
            "open": open,
            "failed": failed,
            "setup_secs": round3(setup_secs),
            "failures": failures,
            "source_addresses": sources.len(),
            "open_by_url": nodes
                .iter()
                .zip(&open_by_home)
                .map(|(node, open)| json!({ "url": node.url, "open": open }))
                .collect::<Vec<_>>(),
        },
        "room_size": args.room_size,
        "rooms": args.connections / args.room_size,
        "publishers": publishing.len(),
        "body_bytes": args.body_bytes,
        "receipts": args.receipts,
        "warmup_secs": args.warmup,
        "duration_secs": args.duration,
        "memory": {
            "server_rss_kb_before": rss_before,
            "server_rss_kb_connected": rss_connected,
            "server_rss_kb_end": rss_end,
            "server_kb_per_connection": match (rss_before, rss_connected) {
                (Some(b), Some(a)) if open > 0 => Some(round3((a as f64 - b as f64) / open as f64)),
                _ => None,
            },
            "tool_rss_kb": tool_rss,
            "server_rss_kb_by_pid": (args.server_pids.len() > 1).then(|| {
                args.server_pids
                    .iter()
                    .map(|pid| {
                        let pid = pid.to_string();
                        let at = |m: &BTreeMap<String, u64>| m.get(&pid).copied();
                        let figures = json!({
                            "before": at(&rss_before_by_pid),
                            "connected": at(&rss_connected_by_pid),
                            "end": at(&rss_end_by_pid),
                        });
                        (pid, figures)
                    })
                    .collect::<serde_json::Map<_, _>>()
            }),
        },
        "steps": steps,
        "result": result,
        "ramp": args.ramp.then(|| json!({
            "p99_bound_ms": args.p99_bound_ms,
            "on": if args.receipts { "receipts" } else { "deliveries" },
            "highest_sustained_rate": result.map(|r| r.rate),
            "highest_sustained_deliveries_per_sec": result.map(|r| r.deliveries_per_sec),
            "highest_sustained_sends_per_sec": result.map(|r| r.sends_per_sec),
        })),
        "totals": {
            "sends": t.sends.load(Relaxed),
            "deliveries": t.deliveries.load(Relaxed),
            "deliveries_across_nodes": t.deliveries_across_nodes.load(Relaxed),
            "receipts": t.receipts.load(Relaxed),
            "other_messages": t.other_messages.load(Relaxed),
            "error_frames": t.error_frames.load(Relaxed),
            "error_events": t.error_events.load(Relaxed),
            "disconnects": t.disconnects.load(Relaxed),
            "malformed": t.malformed.load(Relaxed),
        },
        "errors": recorder.error_count() + failed as u64,
        "error_samples": recorder.error_samples(),
    });
    let line = serde_json::to_string(&report)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").context("writing the report")?;
    stdout.flush()?;
    if let Some(path) = &args.output {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let series: Vec<plot::Series> = steps
            .iter()
            .filter(|s| !s.curve.is_empty())
            .map(|s| plot::Series {
                label: format!("{:.0} deliveries/s", s.deliveries_per_sec),
                points: s.curve.clone(),
            })
            .collect();
        plot::write(
            path,
            &format!("{}: latency by percentile", args.label()),
            &series,
        )?;
    }
    Ok(())
}

/// Keeps the (single-threaded) runtime from parking in the kernel after every event: the
/// thread sleeps for `every`, then yields, which makes the scheduler poll the sockets without
/// blocking, run whatever became ready, and come back here. One wake-up per `every` instead of
/// one per delivery. Blocking the thread is the point, so it is done on purpose here, and
/// only with one worker (checked by the arguments).
async fn batch_polls(every: Duration) {
    loop {
        std::thread::sleep(every);
        tokio::task::yield_now().await;
    }
}

/// Walks the steps: paces the SENDs, opens the measurement windows, samples CPU at their
/// edges, evaluates each step after its drain.
struct Driver<'a> {
    args: &'a BenchArgs,
    recorder: &'a Recorder,
    publishers: &'a [mpsc::UnboundedSender<u64>],
    progress: &'a Progress,
    watched: &'a Watched,
    redis: Option<&'a RedisTarget>,
    clock: Clock,
    pacer: Pacer,
}

impl Driver<'_> {
    async fn drive(&mut self, rates: &[f64], fanout: f64) -> Vec<StepReport> {
        let args = self.args;
        let warmup = Duration::from_secs_f64(args.warmup);
        let duration = Duration::from_secs_f64(args.duration);
        let drain = Duration::from_secs_f64(if args.ramp {
            args.drain.min(args.warmup)
        } else {
            args.drain
        });
        let mut reports = Vec::new();
        self.pacer.retarget(Instant::now(), rates[0]);
        for (step, &rate) in rates.iter().enumerate() {
            let start = self.pacer.due_at(0);
            let (window_start, window_end) = (start + warmup, start + warmup + duration);
            let window = self.recorder.open_window(
                self.clock.unix_ns(window_start),
                self.clock.unix_ns(window_end),
            );
            self.pace_until(window_start, step, rate).await;
            let cpu_start = CpuSample::take(self.watched, self.redis).await;
            self.pace_until(window_end, step, rate).await;
            let cpu_end = CpuSample::take(self.watched, self.redis).await;
            // The next step starts now (its warm-up covers this step's drain), or the load
            // stops.
            let next = rates.get(step + 1).copied();
            self.pacer.retarget(Instant::now(), next.unwrap_or(0.0));
            self.pace_until(Instant::now() + drain, step + 1, next.unwrap_or(0.0))
                .await;
            let report = self.evaluate(window, rate, fanout, &cpu_start, &cpu_end);
            self.progress.line(&report.line(step));
            let go_on = report.sustained;
            reports.push(report);
            if !go_on {
                break;
            }
        }
        self.pacer.retarget(Instant::now(), 0.0);
        reports
    }

    /// Hands out due SENDs until `until`, refreshing the status line now and then.
    async fn pace_until(&mut self, until: Instant, step: usize, rate: f64) {
        let mut next_status = Instant::now();
        loop {
            let now = Instant::now();
            let due = self.pacer.take_due(now);
            if !self.publishers.is_empty() {
                for m in due {
                    let publisher = &self.publishers[(m % self.publishers.len() as u64) as usize];
                    let _ = publisher.send(self.clock.unix_ns(self.pacer.due_at(m)));
                }
            }
            if now >= next_status {
                self.status(step, rate);
                next_status = now + Duration::from_millis(500);
            }
            if now >= until {
                return;
            }
            let wake = self
                .pacer
                .next_due()
                .map_or(until, |d| d.min(until))
                .min(next_status);
            tokio::time::sleep_until(wake).await;
        }
    }

    fn status(&self, step: usize, rate: f64) {
        let t = &self.recorder.totals;
        self.progress.status(format!(
            "step {} | rate {rate}/s | sent {} | delivered {} | errors {}",
            step + 1,
            t.sends.load(Relaxed),
            t.deliveries.load(Relaxed),
            self.recorder.error_count()
        ));
    }

    fn evaluate(
        &self,
        window: usize,
        rate: f64,
        fanout: f64,
        cpu_start: &CpuSample,
        cpu_end: &CpuSample,
    ) -> StepReport {
        let args = self.args;
        let w = self
            .recorder
            .window(window)
            .expect("the driver opened this window");
        let secs = w.secs();
        let latency = LatencySummary::of(&w.latency);
        let receipts = args.receipts.then(|| LatencySummary::of(&w.receipts));
        let missing = w.expected.saturating_sub(w.deliveries);
        let sends_per_sec = w.sends as f64 / secs;
        let mut why_not = Vec::new();
        if rate > 0.0 && sends_per_sec < rate * 0.95 {
            why_not.push(format!("sent {sends_per_sec:.0}/s of {rate}/s"));
        }
        if missing > w.expected / 1000 {
            why_not.push(format!("{missing} of {} deliveries missing", w.expected));
        }
        if w.errors > 0 {
            why_not.push(format!("{} errors", w.errors));
        }
        let p99 = receipts.map_or(latency.p99_ms, |r| r.p99_ms);
        if p99 > args.p99_bound_ms {
            why_not.push(format!("p99 {p99} ms > {} ms", args.p99_bound_ms));
        }
        let receipts_missing = if args.receipts {
            w.sends.saturating_sub(w.receipts.len())
        } else {
            0
        };
        if receipts_missing > w.sends / 1000 {
            why_not.push(format!("{receipts_missing} receipts missing"));
        }
        let tool_cpu = CpuUse::between(cpu_start.tool, cpu_end.tool, secs, w.received);
        if tool_cpu.is_some_and(|c| c.cores >= 0.9 * args.workers as f64) {
            // The figures then say more about the bench than about the server.
            why_not.push("the bench itself was saturated (try --workers 2)".into());
        }
        let watched = self.watched;
        StepReport {
            rate,
            offered_deliveries_per_sec: rate * fanout,
            secs: round3(secs),
            sends: w.sends,
            sends_per_sec: round3(sends_per_sec),
            expected_deliveries: w.expected,
            deliveries: w.deliveries,
            missing_deliveries: missing,
            deliveries_per_sec: round3(w.received as f64 / secs),
            latency,
            receipts,
            send_lag: LatencySummary::of(&w.lag),
            errors: w.errors,
            across_nodes_deliveries_per_sec: (!args.receive_urls.is_empty())
                .then(|| round3(w.received_across_nodes as f64 / secs)),
            server_cpu: CpuUse::between(
                total(&cpu_start.servers),
                total(&cpu_end.servers),
                secs,
                w.received,
            ),
            server_cpu_by_pid: if watched.servers.len() > 1 {
                cpu_uses(
                    watched.servers.iter().map(u32::to_string),
                    &cpu_start.servers,
                    &cpu_end.servers,
                    secs,
                    w.received,
                )
            } else {
                BTreeMap::new()
            },
            extra_cpu: cpu_uses(
                watched.extras.iter().map(|e| e.name.clone()),
                &cpu_start.extras,
                &cpu_end.extras,
                secs,
                w.received,
            ),
            tool_cpu,
            server_rss_kb: watched.rss_kb(),
            server_rss_kb_by_pid: watched.rss_kb_by_pid(),
            redis: match (cpu_start.redis, cpu_end.redis) {
                (Some(start), Some(end)) => Some(RedisUse::between(start, end, w.sends)),
                _ => None,
            },
            sustained: why_not.is_empty(),
            why_not,
            curve: percentile_curve(if args.receipts {
                &w.receipts
            } else {
                &w.latency
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> BenchArgs {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .expect("valid arguments")
            .bench
    }

    #[test]
    fn defaults_are_sane_and_checked() {
        let args = parse(&[]);
        assert_eq!(args.profile, Profile::Sotong);
        assert_eq!(args.workers, 1);
        assert!(args.check().is_ok());
        assert_eq!(args.rates(), vec![100.0]);
        assert!(parse(&["-c", "15", "-k", "10"]).check().is_err());
        assert!(parse(&["--profile", "sotong", "-k", "1", "-c", "5"])
            .check()
            .is_err());
        assert!(parse(&["-d", "0"]).check().is_err());
        assert!(parse(&["--ramp", "--ramp-factor", "1"]).check().is_err());
        assert!(parse(&["--user-prefix", "NO"]).check().is_err());
    }

    #[test]
    fn ramps_grow_geometrically_up_to_the_cap() {
        let args = parse(&[
            "--ramp",
            "-r",
            "1000",
            "--ramp-factor",
            "1.5",
            "--ramp-max",
            "4000",
        ]);
        assert_eq!(args.rates(), vec![1000.0, 1500.0, 2250.0, 3375.0]);
        let args = parse(&[
            "--ramp",
            "-r",
            "10",
            "--ramp-factor",
            "2",
            "--ramp-steps",
            "3",
        ]);
        assert_eq!(args.rates(), vec![10.0, 20.0, 40.0]);
    }

    #[test]
    fn a_cluster_run_names_its_nodes_and_processes() {
        let args = parse(&[
            "--url",
            "ws://127.0.0.1:18101/ws",
            "--receive-url",
            "ws://127.0.0.1:18102/ws",
            "--receive-url",
            "ws://127.0.0.1:18103/ws",
            "--server-pid",
            "101",
            "--server-pid",
            "102",
            "--extra-pid",
            "redis=2277",
            "--redis-stats",
            "redis://127.0.0.1:6379",
        ]);
        assert!(args.check().is_ok());
        assert_eq!(
            args.receive_urls,
            vec!["ws://127.0.0.1:18102/ws", "ws://127.0.0.1:18103/ws"]
        );
        assert_eq!(args.server_pids, vec![101, 102]);
        assert_eq!(
            args.extra_pids,
            vec![NamedPid {
                name: "redis".into(),
                pid: 2277
            }]
        );
        assert_eq!(args.redis_stats.as_deref(), Some("redis://127.0.0.1:6379"));
        // One node, as before: no receivers, one or no pid.
        let single = parse(&["--server-pid", "7"]);
        assert!(single.receive_urls.is_empty());
        assert_eq!(single.server_pids, vec![7]);
        assert!(parse(&[]).server_pids.is_empty());
    }

    #[test]
    fn processes_are_named_once_and_given_once() {
        let parses = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).is_ok()
        };
        assert!(!parses(&["--extra-pid", "redis"]));
        assert!(!parses(&["--extra-pid", "=12"]));
        assert!(!parses(&["--extra-pid", "redis=x"]));
        assert!(!parses(&["--extra-pid", "re dis=12"]));
        assert!(parses(&["--extra-pid", "pg.main-1=12"]));
        assert!(parse(&["--extra-pid", "a=1", "--extra-pid", "a=2"])
            .check()
            .is_err());
        assert!(parse(&["--server-pid", "5", "--server-pid", "5"])
            .check()
            .is_err());
    }

    #[test]
    fn cpu_sums_need_every_reading() {
        assert_eq!(total(&[Some(1.0), Some(2.5)]), Some(3.5));
        assert_eq!(total(&[Some(1.0), None]), None);
        assert_eq!(total(&[]), None);
        let uses = cpu_uses(
            ["a", "b", "c"].into_iter(),
            &[Some(1.0), None, Some(2.0)],
            &[Some(2.0), Some(1.0), Some(2.5)],
            10.0,
            1000,
        );
        assert_eq!(uses.keys().copied().collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(uses["a"].us_per_delivery, Some(1000.0));
        assert_eq!(uses["c"].cores, 0.05);
    }

    #[test]
    fn the_clock_maps_instants_to_unix_time() {
        let clock = Clock::now();
        let later = clock.instant + Duration::from_millis(5);
        assert_eq!(clock.unix_ns(later), clock.unix_ns + 5_000_000);
        assert!(clock.unix_ns(clock.instant) == clock.unix_ns);
    }

    #[test]
    fn cpu_use_per_delivery() {
        let used = CpuUse::between(Some(1.0), Some(1.5), 10.0, 100_000).unwrap();
        assert_eq!(used.cpu_secs, 0.5);
        assert_eq!(used.cores, 0.05);
        assert_eq!(used.us_per_delivery, Some(5.0));
        assert!(CpuUse::between(None, Some(1.0), 1.0, 1).is_none());
    }
}
