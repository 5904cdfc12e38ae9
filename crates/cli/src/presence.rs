//! `sotong bench-presence`: the presence traffic of many users coming online.
//!
//! It makes U users (default 10,000) and puts each in R groups (default 20) of K members
//! (default 10): R rounds, each a shuffle of all users cut into groups of K, so two users
//! rarely share more than one room and each watches about R × (K − 1) others. Then it
//! connects every user within the ramp (default 60 s, evenly spread), each subscribing to
//! `/user/queue/presence` and watching the users it shares a room with, as the web app does.
//!
//! What it measures is what presence costs when everybody arrives: the frames and bytes the
//! clients receive (the answer to each watch list, and the changes after it), the frames per
//! user going online, the server's own counters (`sotong_presence_*` from `/metrics`), and,
//! given the server's pid, its CPU time and peak resident memory over the ramp. It also checks
//! that nothing was lost: at the end every client must see every user it watches `online`,
//! and the frames the clients counted must equal the frames the server says it queued.
//!
//! Loopback servers only. Prints a table, then one JSON line.

use crate::bench::setup::{self, api, ConnPlan, Target};
use crate::bench::sys::Proc;
use anyhow::{bail, Context};
use bytes::BytesMut;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sotong_stomp::{encode, Command, Decoder, Frame, Version};
use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Most users one connection may watch (the server's limit).
const MAX_WATCHED: usize = 1000;

/// The receipt asked for with the watch list.
const WATCHED: &str = "bench-watched";

/// The knobs of `sotong bench-presence`.
#[derive(Debug, Clone, Args)]
pub struct PresenceBenchArgs {
    /// WebSocket URL of the server (ws://, loopback only); its HTTP API is at the same address.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// The server's --jwt-secret (users are created on first use of their JWT).
    #[arg(long, env = "SOTONG_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    /// Users, each with one connection.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Groups each user is a member of.
    #[arg(long, default_value_t = 20)]
    pub rooms_per_user: usize,
    /// Members per group; must divide --users.
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    /// Seconds over which the users connect, evenly spread.
    #[arg(long, default_value_t = 60.0)]
    pub ramp_secs: f64,
    /// After the ramp, the longest wait for the last connections and frames, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub settle_secs: f64,
    /// Source addresses 127.0.0.1 … 127.0.0.N the connections are spread over (the server caps
    /// WebSockets per address).
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u8,
    /// HTTP requests at once while making users and rooms.
    #[arg(long, default_value_t = 32)]
    pub http_concurrency: usize,
    /// The server's process id, for its CPU time and peak memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Usernames are PREFIX-0, PREFIX-1, … (created on first use; a later run reuses them,
    /// its rooms are new).
    #[arg(long, default_value = "presence")]
    pub user_prefix: String,
    /// Seed of the room shuffles.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also append the JSON line to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl PresenceBenchArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.users < 2 || self.room_size < 2 || self.rooms_per_user == 0 {
            bail!("--users and --room-size must be at least 2, --rooms-per-user at least 1");
        }
        if !self.users.is_multiple_of(self.room_size) {
            bail!("--room-size must divide --users");
        }
        if self.room_size > 257 {
            bail!("--room-size is at most 257 (a group is made with at most 256 others)");
        }
        if !(self.ramp_secs >= 0.0 && self.settle_secs >= 0.0) {
            bail!("--ramp-secs and --settle-secs must not be negative");
        }
        setup::check_prefix(&self.user_prefix, self.users)
    }
}

/// The groups: `rooms_per_user` rounds, each a shuffle of all users (seeded) cut into groups
/// of `room_size` consecutive ones, so every user is in exactly `rooms_per_user` groups and
/// never twice in one. Members are user indexes; each group's first member makes it.
pub(crate) fn room_layout(
    users: usize,
    rooms_per_user: usize,
    room_size: usize,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut rooms = Vec::with_capacity(users * rooms_per_user / room_size);
    for _ in 0..rooms_per_user {
        let mut order: Vec<usize> = (0..users).collect();
        for i in (1..users).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        rooms.extend(order.chunks(room_size).map(<[usize]>::to_vec));
    }
    rooms
}

/// Each user's watch list: everyone it shares a group with, itself left out, ascending.
pub(crate) fn watch_lists(users: usize, rooms: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut lists = vec![Vec::new(); users];
    for room in rooms {
        for &member in room {
            lists[member].extend(room.iter().copied().filter(|&other| other != member));
        }
    }
    for list in &mut lists {
        list.sort_unstable();
        list.dedup();
    }
    lists
}

/// Counters shared by the connection tasks.
#[derive(Debug, Default)]
struct Counts {
    /// Connections whose watch list was answered and acknowledged.
    watching: AtomicU64,
    /// Connections that failed (refused, closed, an error frame).
    failed: AtomicU64,
    /// The first presence frame after a watch list: the state of the whole list.
    answer_frames: AtomicU64,
    answer_bytes: AtomicU64,
    /// Every later presence frame: one user's change.
    change_frames: AtomicU64,
    change_bytes: AtomicU64,
    /// Changes that said `online`.
    change_online: AtomicU64,
    /// Bytes of every WebSocket message received after the watch list was sent.
    wire_bytes: AtomicU64,
    /// Connections that see every user they watch online right now.
    complete_views: AtomicU64,
    /// When the last presence frame arrived (ns since the ramp began).
    last_frame_ns: AtomicU64,
}

/// One connection's story, for the report.
#[derive(Debug, Default)]
struct Shared {
    counts: Counts,
    /// From the task's start to the watch list's receipt, in microseconds.
    ready_us: Mutex<Vec<u64>>,
    /// The first few failures, as text.
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn fail(&self, err: &anyhow::Error) {
        self.counts.failed.fetch_add(1, Relaxed);
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < 5 {
            errors.push(format!("{err:#}"));
        }
    }
}

/// Runs the bench; prints the table and the JSON line.
///
/// # Errors
/// A server that cannot be reached, refuses the setup, or a report that cannot be written.
pub async fn run(args: PresenceBenchArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::resolve(&args.url, false).await?;
    let base = target.http_base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let names: Vec<String> = (0..args.users)
        .map(|i| setup::username(&args.user_prefix, i))
        .collect();
    let ttl = Duration::from_secs(3600 + (args.ramp_secs + args.settle_secs) as u64);
    let tokens = names
        .iter()
        .map(|name| setup::jwt(name, &args.jwt_secret, ttl))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // --- users and rooms ---------------------------------------------------------------
    let setup_started = Instant::now();
    let mut ids = vec![0i64; args.users];
    let mut made = futures_util::stream::iter((0..args.users).map(|i| {
        let request = api(&http, &base, "GET", "/api/me", &tokens[i], None);
        async move { (i, request.await) }
    }))
    .buffer_unordered(args.http_concurrency.max(1));
    while let Some((i, me)) = made.next().await {
        let me = me.context("creating a user (GET /api/me)")?;
        ids[i] = me["id"].as_i64().context("GET /api/me without an id")?;
    }
    drop(made);
    let users_secs = setup_started.elapsed().as_secs_f64();
    let rooms = room_layout(args.users, args.rooms_per_user, args.room_size, args.seed);
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut made = futures_util::stream::iter(rooms.iter().enumerate().map(|(r, members)| {
        let others: Vec<&str> = members[1..].iter().map(|&m| names[m].as_str()).collect();
        let body = json!({ "name": format!("presence {run_id} #{r}"), "members": others });
        api(
            &http,
            &base,
            "POST",
            "/api/rooms",
            &tokens[members[0]],
            Some(body),
        )
    }))
    .buffer_unordered(args.http_concurrency.max(1));
    while let Some(room) = made.next().await {
        room.context("creating a group (POST /api/rooms)")?;
    }
    drop(made);
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let lists = watch_lists(args.users, &rooms);
    let edges: usize = lists.iter().map(Vec::len).sum();
    if let Some(longest) = lists
        .iter()
        .map(Vec::len)
        .max()
        .filter(|&n| n > MAX_WATCHED)
    {
        bail!("a user would watch {longest} others, more than the server's {MAX_WATCHED}");
    }
    eprintln!(
        "{} users in {:.1} s, {} groups in {:.1} s more; {edges} watch entries; connecting over {} s",
        args.users,
        users_secs,
        rooms.len(),
        setup_secs - users_secs,
        args.ramp_secs
    );

    // --- everybody online ----------------------------------------------------------------
    let destinations = [
        "/user/queue/presence".to_string(),
        "/user/queue/errors".into(),
    ];
    let before = metrics(&http, &base).await?;
    let server = args.server_pid.map(Proc::Pid);
    let server_cpu_before = server.and_then(|p| p.cpu_secs().ok());
    let server_rss_before_kb = args.server_pid.and_then(crate::uploads::reset_peak);
    let my_cpu_before = Proc::Myself.cpu_secs().ok();
    let shared = Arc::new(Shared::default());
    let sources = setup::source_addresses(args.source_addrs);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.users);
    for (i, list) in lists.iter().enumerate() {
        let at = started + Duration::from_secs_f64(args.ramp_secs * i as f64 / args.users as f64);
        tokio::time::sleep_until(at).await;
        let watched: Vec<i64> = list.iter().map(|&u| ids[u]).collect();
        let plan = setup::sotong_plan(&tokens[i], &destinations);
        tasks.push(tokio::spawn(connection(
            target.clone(),
            sources[i % sources.len()],
            plan,
            watched,
            shared.clone(),
            started,
        )));
    }
    let ramp_done = started.elapsed().as_secs_f64();
    let counts = &shared.counts;
    let deadline = Instant::now() + Duration::from_secs_f64(args.settle_secs);
    // Every connection watching (or failed), then the server's frame count matched by the
    // clients' and no frame for a second.
    let mut settled = false;
    let mut server_frames = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let done = counts.watching.load(Relaxed) + counts.failed.load(Relaxed);
        if done < args.users as u64 {
            continue;
        }
        let now = metrics(&http, &base).await?;
        server_frames = counter(&now, "sotong_presence_frames_total")
            - counter(&before, "sotong_presence_frames_total");
        let received = counts.answer_frames.load(Relaxed) + counts.change_frames.load(Relaxed);
        let quiet = started.elapsed().as_nanos() as u64
            > counts.last_frame_ns.load(Relaxed) + 1_000_000_000;
        if received == server_frames && quiet {
            settled = true;
            break;
        }
    }
    let online_secs = started.elapsed().as_secs_f64();
    let after = metrics(&http, &base).await?;
    let server_cpu = server
        .and_then(|p| p.cpu_secs().ok())
        .zip(server_cpu_before)
        .map(|(a, b)| a - b);
    let server_peak_kb = args
        .server_pid
        .and_then(|pid| crate::uploads::status_kb(pid, "VmHWM:"));
    let server_rss_kb = server.and_then(|p| p.rss_kb().ok());
    let my_cpu = Proc::Myself
        .cpu_secs()
        .ok()
        .zip(my_cpu_before)
        .map(|(a, b)| a - b);
    for task in &tasks {
        task.abort();
    }

    // --- the report ----------------------------------------------------------------------
    let delta = |name: &str| counter(&after, name) - counter(&before, name);
    let mut ready_ms: Vec<f64> = shared
        .ready_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|us| *us as f64 / 1000.0)
        .collect();
    ready_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| -> Option<f64> {
        let last = ready_ms.len().checked_sub(1)?;
        Some(round(ready_ms[((last as f64) * p).round() as usize]))
    };
    let load = |c: &AtomicU64| c.load(Relaxed);
    let users = args.users as f64;
    let report = json!({
        "users": args.users,
        "rooms_per_user": args.rooms_per_user,
        "room_size": args.room_size,
        "groups": rooms.len(),
        "watch_entries": edges,
        "watched_per_user": round(edges as f64 / users),
        "setup_secs": round(setup_secs),
        "ramp_secs": round(ramp_done),
        "online_secs": round(online_secs),
        "settled": settled,
        "watching": load(&counts.watching),
        "failed": load(&counts.failed),
        "errors": *shared.errors.lock().unwrap_or_else(|p| p.into_inner()),
        "ready_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0) },
        "clients": {
            "answer_frames": load(&counts.answer_frames),
            "answer_bytes": load(&counts.answer_bytes),
            "change_frames": load(&counts.change_frames),
            "change_bytes": load(&counts.change_bytes),
            "change_online": load(&counts.change_online),
            "change_frames_per_user_online": round(load(&counts.change_frames) as f64 / users),
            "frames_per_user_online": round(
                (load(&counts.answer_frames) + load(&counts.change_frames)) as f64 / users),
            "wire_bytes": load(&counts.wire_bytes),
            "complete_views": load(&counts.complete_views),
        },
        "server": {
            "presence_published": delta("sotong_presence_published_total"),
            "presence_frames": delta("sotong_presence_frames_total"),
            "presence_bytes": delta("sotong_presence_bytes_total"),
            "frames_counted_at_settle": server_frames,
            "cpu_secs": server_cpu.map(round),
            "rss_before_kb": server_rss_before_kb,
            "peak_rss_kb": server_peak_kb,
            "rss_after_kb": server_rss_kb,
        },
        "bench_cpu_secs": my_cpu.map(round),
    });
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", table(&report)).context("writing the report")?;
    writeln!(stdout, "{report}").context("writing the report")?;
    stdout.flush()?;
    if let Some(path) = &args.output {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{report}")?;
    }
    if !settled || load(&counts.failed) > 0 || load(&counts.complete_views) != args.users as u64 {
        bail!("the run did not complete cleanly: see `failed`, `errors`, `settled` and `complete_views`");
    }
    Ok(())
}

/// The report as a Markdown table, for people.
fn table(r: &Value) -> String {
    let c = &r["clients"];
    let s = &r["server"];
    let mib = |v: &Value| {
        v.as_f64()
            .map_or("?".into(), |b| format!("{:.1} MiB", b / 1_048_576.0))
    };
    let kib_mib = |v: &Value| {
        v.as_f64()
            .map_or("?".into(), |k| format!("{:.0} MiB", k / 1024.0))
    };
    let rows = [
        ("users (one connection each)", r["users"].to_string()),
        (
            "groups (members each; groups per user)",
            format!(
                "{} ({}; {})",
                r["groups"], r["room_size"], r["rooms_per_user"]
            ),
        ),
        (
            "users watched per user (mean)",
            r["watched_per_user"].to_string(),
        ),
        (
            "connected within (s; all watching after)",
            format!("{}; {}", r["ramp_secs"], r["online_secs"]),
        ),
        (
            "connections watching / failed",
            format!("{} / {}", r["watching"], r["failed"]),
        ),
        (
            "connect to watch receipt p50 / p99 / max (ms)",
            format!(
                "{} / {} / {}",
                r["ready_ms"]["p50"], r["ready_ms"]["p99"], r["ready_ms"]["max"]
            ),
        ),
        (
            "presence changes published (server)",
            s["presence_published"].to_string(),
        ),
        (
            "presence frames queued (server)",
            s["presence_frames"].to_string(),
        ),
        (
            "presence body bytes queued (server)",
            mib(&s["presence_bytes"]),
        ),
        (
            "answers to watch lists received (frames, body bytes)",
            format!("{}, {}", c["answer_frames"], mib(&c["answer_bytes"])),
        ),
        (
            "changes received (frames, body bytes)",
            format!("{}, {}", c["change_frames"], mib(&c["change_bytes"])),
        ),
        (
            "change frames per user going online",
            c["change_frames_per_user_online"].to_string(),
        ),
        (
            "all presence frames per user going online",
            c["frames_per_user_online"].to_string(),
        ),
        ("WebSocket bytes received by clients", mib(&c["wire_bytes"])),
        (
            "clients seeing all they watch online",
            c["complete_views"].to_string(),
        ),
        ("server CPU over the ramp (s)", s["cpu_secs"].to_string()),
        (
            "server RSS before / peak / after",
            format!(
                "{} / {} / {}",
                kib_mib(&s["rss_before_kb"]),
                kib_mib(&s["peak_rss_kb"]),
                kib_mib(&s["rss_after_kb"])
            ),
        ),
        ("load generator CPU (s)", r["bench_cpu_secs"].to_string()),
    ];
    let mut out = String::from("| | |\n|---|---|\n");
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {value} |\n"));
    }
    out
}

/// The server's metrics, as name → value of every sample line without labels.
async fn metrics(http: &reqwest::Client, base: &str) -> anyhow::Result<HashMap<String, u64>> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("GET /metrics")?
        .text()
        .await
        .context("reading /metrics")?;
    Ok(parse_metrics(&text))
}

fn parse_metrics(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            let value = value.split_whitespace().next()?.parse::<f64>().ok()?;
            Some((name.to_string(), value as u64))
        })
        .collect()
}

fn counter(metrics: &HashMap<String, u64>, name: &str) -> u64 {
    metrics.get(name).copied().unwrap_or(0)
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// One user online: connects, subscribes, sends its watch list, then keeps a view of the users
/// it watches from the frames it gets, until aborted.
async fn connection(
    target: Target,
    source: IpAddr,
    plan: ConnPlan,
    watched: Vec<i64>,
    shared: Arc<Shared>,
    epoch: Instant,
) {
    if let Err(err) = watch(&target, source, &plan, &watched, &shared, epoch).await {
        shared.fail(&err);
    }
}

async fn watch(
    target: &Target,
    source: IpAddr,
    plan: &ConnPlan,
    watched: &[i64],
    shared: &Shared,
    epoch: Instant,
) -> anyhow::Result<()> {
    let begun = Instant::now();
    let counts = &shared.counts;
    let mut ws = setup::open(target, source, plan, Duration::from_secs(120)).await?;
    let send = Frame::new(Command::Send)
        .with_header("destination", "/app/presence/watch")
        .with_header("content-type", "application/json")
        .with_header("receipt", WATCHED)
        .with_body(json!({ "userIds": watched }).to_string());
    let mut out = BytesMut::new();
    encode(&send, Version::V1_2, &mut out);
    let text = String::from_utf8(out.to_vec()).context("a SEND frame that is not UTF-8")?;
    ws.send(Message::Text(text.into())).await?;
    let mut decoder = Decoder::new(sotong_stomp::Limits {
        max_frame_bytes: 1 << 20,
        max_body_bytes: 1 << 20,
        ..sotong_stomp::Limits::default()
    });
    let mut inbox = BytesMut::new();
    let mut view: HashMap<i64, bool> = watched.iter().map(|&u| (u, false)).collect();
    let mut online = 0usize;
    let mut complete = false;
    let mut answered = false;
    while let Some(message) = ws.next().await {
        let payload = match message.context("reading the socket")? {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            Message::Close(close) => bail!("the server closed the socket: {close:?}"),
            _ => continue,
        };
        counts.wire_bytes.fetch_add(payload.len() as u64, Relaxed);
        inbox.extend_from_slice(&payload);
        while let Some(frame) = decoder.decode(&mut inbox).context("decoding a frame")? {
            match frame.command {
                Command::Receipt if frame.header("receipt-id") == Some(WATCHED) => {
                    let us = begun.elapsed().as_micros() as u64;
                    shared
                        .ready_us
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(us);
                    counts.watching.fetch_add(1, Relaxed);
                }
                Command::Message if frame.header("destination") == Some("/user/queue/presence") => {
                    counts
                        .last_frame_ns
                        .fetch_max(epoch.elapsed().as_nanos() as u64, Relaxed);
                    let bytes = frame.body.len() as u64;
                    let body: Value =
                        serde_json::from_slice(&frame.body).context("a presence body")?;
                    let users = body["users"]
                        .as_array()
                        .context("a presence frame without users")?;
                    let change = answered;
                    if change {
                        counts.change_frames.fetch_add(1, Relaxed);
                        counts.change_bytes.fetch_add(bytes, Relaxed);
                    } else {
                        answered = true;
                        counts.answer_frames.fetch_add(1, Relaxed);
                        counts.answer_bytes.fetch_add(bytes, Relaxed);
                    }
                    for user in users {
                        let is_online = user["state"] == "online";
                        if change && is_online {
                            counts.change_online.fetch_add(1, Relaxed);
                        }
                        let Some(seen) = user["userId"].as_i64().and_then(|id| view.get_mut(&id))
                        else {
                            continue;
                        };
                        if *seen != is_online {
                            *seen = is_online;
                            if is_online {
                                online += 1;
                            } else {
                                online -= 1;
                            }
                        }
                    }
                    let now_complete = online == view.len();
                    if now_complete != complete {
                        complete = now_complete;
                        if complete {
                            counts.complete_views.fetch_add(1, Relaxed);
                        } else {
                            counts.complete_views.fetch_sub(1, Relaxed);
                        }
                    }
                }
                Command::Error => bail!("ERROR {}", frame.header("message").unwrap_or("")),
                Command::Message => {
                    bail!("an error event: {}", String::from_utf8_lossy(&frame.body))
                }
                _ => {}
            }
        }
    }
    bail!("the server closed the socket")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_is_in_exactly_its_rooms_never_twice_in_one() {
        let rooms = room_layout(100, 20, 10, 7);
        assert_eq!(rooms.len(), 200);
        let mut per_user = vec![0; 100];
        for room in &rooms {
            assert_eq!(room.len(), 10);
            let mut members = room.clone();
            members.sort_unstable();
            members.dedup();
            assert_eq!(members.len(), 10, "a user twice in {room:?}");
            for &m in room {
                per_user[m] += 1;
            }
        }
        assert!(per_user.iter().all(|&n| n == 20), "{per_user:?}");
        assert_eq!(
            room_layout(100, 20, 10, 7),
            rooms,
            "the same seed, the same rooms"
        );
        assert_ne!(room_layout(100, 20, 10, 8), rooms);
    }

    #[test]
    fn watch_lists_are_the_room_mates_once_each() {
        let rooms = vec![vec![0, 1, 2], vec![2, 3, 0], vec![4, 5, 1]];
        let lists = watch_lists(6, &rooms);
        assert_eq!(lists[0], vec![1, 2, 3]);
        assert_eq!(lists[2], vec![0, 1, 3]);
        assert_eq!(lists[1], vec![0, 2, 4, 5]);
        assert_eq!(lists[5], vec![1, 4]);
        // Random rooms of 10, 20 each, among 10,000: almost no pair meets twice.
        let rooms = room_layout(10_000, 20, 10, 1);
        let lists = watch_lists(10_000, &rooms);
        let mean = lists.iter().map(Vec::len).sum::<usize>() as f64 / 10_000.0;
        assert!(mean > 175.0 && mean <= 180.0, "{mean}");
    }

    #[test]
    fn metrics_lines_are_read_and_comments_skipped() {
        let text = "# TYPE sotong_presence_frames counter\nsotong_presence_frames_total 42\nsotong_presence_bytes_total 4.2e3\nsotong_x{a=\"b\"} 1\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(counter(&m, "sotong_presence_frames_total"), 42);
        assert_eq!(counter(&m, "sotong_presence_bytes_total"), 4200);
        assert_eq!(counter(&m, "sotong_missing_total"), 0);
    }

    #[test]
    fn bad_knobs_are_refused() {
        let mut args = PresenceBenchArgs {
            url: "ws://127.0.0.1:1/ws".into(),
            jwt_secret: "s".into(),
            users: 100,
            rooms_per_user: 2,
            room_size: 10,
            ramp_secs: 1.0,
            settle_secs: 1.0,
            source_addrs: 1,
            http_concurrency: 4,
            server_pid: None,
            user_prefix: "presence".into(),
            seed: 1,
            output: None,
        };
        assert!(args.check().is_ok());
        args.room_size = 7;
        assert!(args.check().is_err(), "7 does not divide 100");
        args.room_size = 10;
        args.ramp_secs = -1.0;
        assert!(args.check().is_err());
    }
}
