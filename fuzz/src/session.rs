//! The `session` fuzz harness: arbitrary bytes into a whole server connection.
//!
//! One [`App`] (SQLite store in a temporary folder, small limits) is built per
//! process inside a once-initialised tokio runtime, with two users and three
//! rooms, so inputs can reach every branch of the room rules:
//!
//! | room | kind   | members          | for `fuzzer`                |
//! |------|--------|------------------|-----------------------------|
//! | 1    | group  | fuzzer, alice    | member, has a few messages  |
//! | 2    | direct | fuzzer, alice    | member                      |
//! | 3    | group  | alice            | not a member (`forbidden`)  |
//!
//! Each input is one connection over an in-memory [`MemSocket`]: a valid
//! `CONNECT` for `fuzzer` (a JWT signed with [`JWT_SECRET`]), then the input cut
//! into WebSocket messages, then the end of the stream. The session runs to
//! completion under [`SESSION_PATIENCE`]; what it wrote is then checked.
//!
//! Input layout: the first octet picks the set-up, the rest is cut into
//! messages at `0xFF` (`0xFF 0xFF` is a literal `0xFF`; see
//! [`crate::codec::split`]); a piece that is UTF-8 goes as a text message,
//! anything else as a binary one.
//!
//! * bits 0–1: `accept-version` of the harness's CONNECT (1.2, 1.1, 1.0, all three);
//! * bit 2: `heart-beat:20,20` instead of `0,0` (the server wants 10,20 ms);
//! * bit 3: the CONNECT and the first piece share one WebSocket message;
//! * bit 4: a ping after every piece;
//! * bit 5: a WebSocket close message before the end of the stream;
//! * bit 6: no harness CONNECT at all: the input must bring its own (the seed
//!   corpus has CONNECT frames with a token valid until 2100, see
//!   [`long_lived_token`]).
//!
//! Checks, besides "never panics" and "never hangs":
//! * every text/binary message the server writes is exactly one valid STOMP
//!   frame of a server command (or a heart-beat EOL), in the version it
//!   negotiated, and nothing but the close follows an `ERROR` frame;
//! * once the session is over the hub holds no connection and the
//!   `connections` and `subscriptions` gauges are back to zero.

use crate::codec::split;
use axum::extract::ws::Message as WsMessage;
use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
use sotong_server::config::Limits;
use sotong_server::model::{RoomId, User};
use sotong_server::{App, Config};
use sotong_stomp::{Command, Decoder, Version};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// HS256 secret of the fuzzing server. Not a secret: it signs test tokens only.
pub const JWT_SECRET: &str = "sotong-fuzz-jwt-secret-0123456789";
/// `exp` of [`long_lived_token`]: 2100-01-01T00:00:00Z.
pub const LONG_LIVED_EXP: i64 = 4_102_444_800;
/// A session that has not finished after this long counts as a hang.
pub const SESSION_PATIENCE: Duration = Duration::from_secs(10);
/// The store is rebuilt (a fresh one) once room 1 or 2 holds more messages
/// than this, so that `since-seq` replays, and so iterations, stay cheap
/// however long the run (a rebuild takes about a tenth of a second).
const MAX_ROOM_MESSAGES: u64 = 300;
/// How often (in iterations) the room sizes above are checked.
const SIZE_CHECK_EVERY: u64 = 64;

/// A JWT for `username` signed with [`JWT_SECRET`] that expires in 2100; the
/// seed corpus embeds the one for `fuzzer` in its own CONNECT frames.
pub fn long_lived_token(username: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": username, "exp": LONG_LIVED_EXP }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// An in-memory WebSocket: yields the queued messages, then ends; keeps what
/// the session writes.
pub struct MemSocket {
    incoming: VecDeque<WsMessage>,
    written: Arc<Mutex<Vec<WsMessage>>>,
    closed: bool,
}

impl MemSocket {
    /// A socket that will deliver `incoming` and then report the end of the stream.
    pub fn new(incoming: VecDeque<WsMessage>) -> (Self, Arc<Mutex<Vec<WsMessage>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let socket = MemSocket {
            incoming,
            written: written.clone(),
            closed: false,
        };
        (socket, written)
    }
}

impl Stream for MemSocket {
    type Item = Result<WsMessage, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.incoming.pop_front().map(Ok))
    }
}

impl Sink<WsMessage> for MemSocket {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(if self.closed {
            Err(axum::Error::new("the socket is closed"))
        } else {
            Ok(())
        })
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
        if self.closed {
            return Err(axum::Error::new("the socket is closed"));
        }
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        self.closed = true;
        Poll::Ready(Ok(()))
    }
}

struct World {
    app: Arc<App>,
    /// Keeps the data folder alive as long as the app; removed on rebuild.
    _dir: tempfile::TempDir,
    token: String,
    runs: u64,
}

struct Harness {
    rt: Runtime,
    world: Mutex<Option<World>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Harness {
            rt,
            world: Mutex::new(None),
        }
    })
}

/// A temporary folder for the store, on tmpfs when there is one (SQLite's
/// fsyncs then cost nothing). libFuzzer ends the process without running
/// destructors, so the folder of a finished process stays behind: its name
/// holds the process id, and folders of processes that are gone are removed
/// here.
fn data_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let prefix = format!("sotong-fuzz-{}-", std::process::id());
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix);
        b
    };
    if shm.is_dir() {
        remove_stale_dirs(shm);
        if let Ok(dir) = builder().tempdir_in(shm) {
            return dir;
        }
    }
    remove_stale_dirs(&std::env::temp_dir());
    builder().tempdir().expect("temporary folder")
}

/// Removes `sotong-fuzz-<pid>-*` folders in `parent` whose process has ended.
fn remove_stale_dirs(parent: &std::path::Path) {
    let proc_fs = std::path::Path::new("/proc/self");
    if !proc_fs.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sotong-fuzz-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        jwt_secret: Some(JWT_SECRET.into()),
        web_dir: dir.join("no-web-app"),
        limits: Limits {
            max_frame_bytes: 1024,
            max_message_chars: 200,
            max_subscriptions: 4,
            send_rate_per_sec: 1_000,
            send_burst: 8,
            outbound_queue: 16,
            heartbeat_min_ms: 10,
            heartbeat_want_ms: 20,
            connect_timeout_ms: 50,
            frame_timeout_ms: 50,
            max_connections_per_user: 4,
            max_connections_per_ip: 4,
            auth_attempts_per_minute: 60,
            failed_logins_per_user: 5,
        },
        ..Config::default()
    }
}

async fn user(app: &App, token: &str) -> User {
    app.auth
        .authenticate(token)
        .await
        .expect("the harness token is valid")
        .user
}

async fn build_world() -> World {
    let dir = data_dir();
    let app = App::open(config(dir.path()), CancellationToken::new())
        .await
        .expect("the fuzzing server opens");
    let token = long_lived_token("fuzzer");
    let me = user(&app, &token).await;
    let alice = user(&app, &long_lived_token("alice")).await;
    let group = app
        .chat
        .create_group(&me, "fuzz room", &["alice".to_string()])
        .await
        .expect("room 1");
    assert_eq!(group.id, RoomId(1), "the input refers to room 1");
    let (direct, _) = app.chat.open_direct(&me, "alice").await.expect("room 2");
    assert_eq!(direct.id, RoomId(2));
    let other = app
        .chat
        .create_group(&alice, "not yours", &[])
        .await
        .expect("room 3");
    assert_eq!(other.id, RoomId(3));
    for i in 1..=3 {
        app.chat
            .post_message(&alice, group.id, &format!("hello {i}"), None)
            .await
            .expect("a message in room 1");
    }
    World {
        app,
        _dir: dir,
        token,
        runs: 0,
    }
}

fn ws(piece: Vec<u8>) -> WsMessage {
    match String::from_utf8(piece) {
        Ok(text) => WsMessage::Text(text.into()),
        Err(err) => WsMessage::Binary(Bytes::from(err.into_bytes())),
    }
}

/// The messages a client sends for `data` (see the module doc).
fn client_messages(data: &[u8], token: &str) -> VecDeque<WsMessage> {
    let (flags, rest) = data.split_first().map_or((0, data), |(&f, r)| (f, r));
    let accept = match flags & 3 {
        0 => "1.2",
        1 => "1.1",
        2 => "1.0",
        _ => "1.0,1.1,1.2",
    };
    let heart_beat = if flags & 4 != 0 { "20,20" } else { "0,0" };
    let connect = format!(
        "CONNECT\naccept-version:{accept}\nhost:sotong\nAuthorization:Bearer {token}\nheart-beat:{heart_beat}\n\n\0"
    )
    .into_bytes();
    let mut pieces = split(rest);
    if flags & 0x40 == 0 {
        if flags & 8 != 0 {
            if let Some(first) = pieces.first_mut() {
                first.splice(0..0, connect);
            }
        } else {
            pieces.insert(0, connect);
        }
    }
    let mut messages = VecDeque::new();
    for piece in pieces {
        messages.push_back(ws(piece));
        if flags & 0x10 != 0 {
            messages.push_back(WsMessage::Ping(Bytes::from_static(b"ping")));
        }
    }
    if flags & 0x20 != 0 {
        messages.push_back(WsMessage::Close(None));
    }
    messages
}

/// Checks what the server wrote (see the module doc); panics on a violation.
fn check_output(written: &[WsMessage]) {
    let mut decoder = Decoder::new(sotong_stomp::Limits {
        max_frame_bytes: 1 << 24,
        max_body_bytes: 1 << 24,
        ..sotong_stomp::Limits::default()
    });
    let mut errored = false;
    for (i, msg) in written.iter().enumerate() {
        let bytes: &[u8] = match msg {
            WsMessage::Text(text) => text.as_bytes(),
            WsMessage::Binary(bytes) => bytes,
            WsMessage::Close(_) => continue,
            other => panic!("message {i}: the server sent {other:?}"),
        };
        assert!(
            !errored,
            "message {i}: the server wrote {bytes:?} after its ERROR frame"
        );
        let mut buf = BytesMut::from(bytes);
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                assert!(
                    buf.is_empty(),
                    "message {i}: more than one frame in {bytes:?}"
                );
                assert!(
                    !frame.command.is_client(),
                    "message {i}: the server sent a client frame {frame:?}"
                );
                match frame.command {
                    Command::Connected => {
                        let version =
                            Version::negotiate(frame.header("version")).unwrap_or_else(|| {
                                panic!("message {i}: CONNECTED without a known version: {frame:?}")
                            });
                        decoder.set_version(version);
                    }
                    Command::Error => errored = true,
                    _ => {}
                }
            }
            Ok(None) => assert!(
                buf.is_empty() && !bytes.is_empty(),
                "message {i}: an incomplete frame {bytes:?}"
            ),
            Err(err) => panic!("message {i}: the server wrote an invalid frame ({err}): {bytes:?}"),
        }
    }
}

/// Runs one fuzz input as a whole connection and checks the invariants in the
/// module doc; panics on a violation or a hang.
pub fn check(data: &[u8]) {
    run_input(data);
}

/// [`check`], returning what the server wrote (for the harness's own tests).
fn run_input(data: &[u8]) -> Vec<WsMessage> {
    let harness = harness();
    let mut guard = harness.world.lock().unwrap_or_else(|e| e.into_inner());
    harness.rt.block_on(async {
        let world = match &mut *guard {
            Some(world) => world,
            slot => slot.insert(build_world().await),
        };
        world.runs += 1;
        if world.runs % SIZE_CHECK_EVERY == 0 {
            let mut size = 0;
            for room in [RoomId(1), RoomId(2)] {
                size = size.max(world.app.store.last_seq(room).await.map_or(0, u64::from));
            }
            if size > MAX_ROOM_MESSAGES {
                world.app.store.close().await;
                *world = build_world().await;
            }
        }
        let app = world.app.clone();
        let messages = client_messages(data, &world.token);
        let (socket, written) = MemSocket::new(messages);
        let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let session = sotong_server::session::run(socket, app.clone(), peer);
        if tokio::time::timeout(SESSION_PATIENCE, session)
            .await
            .is_err()
        {
            panic!("the session did not finish within {SESSION_PATIENCE:?}");
        }
        let written = std::mem::take(&mut *written.lock().unwrap_or_else(|e| e.into_inner()));
        check_output(&written);
        assert_eq!(
            app.hub.connection_count(),
            0,
            "a connection outlived its session"
        );
        assert_eq!(app.metrics.connections.get(), 0, "connections gauge leaked");
        assert_eq!(
            app.metrics.subscriptions.get(),
            0,
            "subscriptions gauge leaked"
        );
        written
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays `regressions/session/` and the seed corpus through the harness
    /// without libFuzzer: `cargo test` in `fuzz/`.
    #[test]
    fn session_regressions_and_seed_corpus_pass_the_harness() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seeds = 0;
        for folder in ["regressions/session", "corpus/session"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(folder)) else {
                continue;
            };
            let mut files: Vec<_> = entries
                .map(|e| e.expect("readable folder entry").path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            files.sort();
            if folder.starts_with("corpus") {
                seeds = files.len();
            }
            for path in files {
                let data = std::fs::read(&path).expect("readable fuzz input");
                let outcome = std::panic::catch_unwind(|| super::check(&data));
                assert!(
                    outcome.is_ok(),
                    "{} fails the session harness",
                    path.display()
                );
            }
        }
        assert!(seeds > 0, "no seed corpus in corpus/session");
    }

    /// The harness really drives the server: a seed's SUBSCRIBE, SEND and
    /// DISCONNECT get their RECEIPTs and the room's history arrives.
    #[test]
    fn a_seed_session_gets_its_receipts_and_messages() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/session/seed-subscribe-send-unsubscribe-disconnect");
        let data = std::fs::read(seed).expect("the seed exists");
        let written = super::run_input(&data);
        let text: String = written
            .iter()
            .filter_map(|m| match m {
                super::WsMessage::Text(t) => Some(t.as_str().to_owned()),
                _ => None,
            })
            .collect();
        assert!(text.starts_with("CONNECTED\n"), "{text}");
        for receipt in ["r-sub", "r-1", "r-unsub", "r-bye"] {
            assert!(
                text.contains(&format!("receipt-id:{receipt}\n")),
                "{receipt}: {text}"
            );
        }
        assert!(
            text.contains("MESSAGE\ndestination:/topic/rooms/1\n"),
            "{text}"
        );
        assert!(matches!(written.last(), Some(super::WsMessage::Close(_))));
    }
}
