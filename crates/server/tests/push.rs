//! Web Push and muting, on SQLite and on PostgreSQL, against a local push service
//! (`push_receiver.py`, PyPI's http-ece in a virtualenv) that checks each request's VAPID
//! signature and decrypts its aes128gcm body as a browser would: what is pushed, to whom,
//! when nothing is (a room shown on any node, a muted room), `410 Gone`, collapsing a burst.
//!
//! "Nothing was pushed" is shown by order: the push task handles messages in commit order, so
//! once a later message's push arrives, an earlier one that was going to be pushed would have
//! been.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_testkit::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const NOTIFICATIONS: &str = "/user/queue/notifications";

on_both_stores!(
    a_message_to_a_user_with_no_tab_open_is_pushed_encrypted_and_signed,
    a_user_shown_the_room_gets_no_push_and_a_muted_room_only_mentions,
    a_gone_subscription_is_removed_and_never_tried_again,
    a_burst_in_one_room_is_collapsed_into_two_pushes,
    logging_out_everywhere_stops_pushes_to_the_users_devices,
);

/// The Python with http-ece: `SOTONG_PUSH_PYTHON`, else the virtualenv `push-venv` of the
/// target folder (made by `scripts/test`, or here when missing). `None` when it cannot be had.
fn receiver_python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SOTONG_PUSH_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("push-venv");
    let python = venv.join("bin/python");
    let has_ece = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import http_ece"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_ece(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "http-ece"])
            .status()
            .is_ok_and(|s| s.success());
    installed.then_some(python)
}

/// The local push service: a child process, its keys, and what it reports.
struct Receiver {
    child: Child,
    port: u16,
    p256dh: String,
    auth: String,
    reports: mpsc::UnboundedReceiver<Value>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// Starts the receiver, or `None` (said loudly) when Python with http-ece is missing.
    fn start() -> Option<Receiver> {
        let Some(python) = receiver_python() else {
            eprintln!(
                "SKIPPED: no Python with http-ece (set SOTONG_PUSH_PYTHON or let scripts/test \
                 make the push-venv); the push tests did not run"
            );
            return None;
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/push_receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the push receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first: Value = serde_json::from_str(
            &lines
                .next()
                .expect("the receiver's first line")
                .expect("read"),
        )
        .expect("JSON");
        let (tx, reports) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Some(Receiver {
            child,
            port: first["port"].as_u64().expect("port") as u16,
            p256dh: first["p256dh"].as_str().expect("p256dh").into(),
            auth: first["auth"].as_str().expect("auth").into(),
            reports,
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// A browser's `PushSubscription` JSON for an endpoint of this receiver.
    fn subscription(&self, path: &str) -> Value {
        json!({
            "endpoint": self.endpoint(path),
            "expirationTime": null,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        })
    }

    /// The next request the receiver saw; panics after ten seconds.
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.reports.recv())
            .await
            .expect("a push within 10 s")
            .expect("the receiver is running")
    }

    /// The next request, which must have verified and decrypted: its payload.
    async fn next_payload(&mut self) -> (Value, Value) {
        let report = self.next().await;
        assert_eq!(
            report["status"], 201,
            "push verified and decrypted: {report}"
        );
        (report["payload"].clone(), report)
    }
}

fn with_push(config: &mut sotong_server::Config) {
    config.push.allow_insecure_endpoints = true;
    config.push.collapse_ms = 0;
}

async fn subscribe(server: &TestServer, user: &TestUser, subscription: Value) {
    let (status, body) = server
        .post("/api/push/subscriptions", Some(&user.token), subscription)
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn a_message_to_a_user_with_no_tab_open_is_pushed_encrypted_and_signed(store: StoreBackend) {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let server = store.spawn(with_push).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;

    let (status, key) = server.get("/api/push/key", Some(&bob.token)).await;
    assert_eq!(status, 200);
    let key = key["publicKey"].as_str().expect("publicKey").to_string();
    assert_eq!(server.get("/api/push/key", None).await.0, 401);

    // Bad subscriptions are refused with a code, and nothing is stored.
    for (bad, why) in [
        (
            json!({"endpoint": "http://10.0.0.1/x", "keys": {"p256dh": receiver.p256dh, "auth": receiver.auth}}),
            "private address",
        ),
        (
            json!({"endpoint": "ftp://127.0.0.1/x", "keys": {"p256dh": receiver.p256dh, "auth": receiver.auth}}),
            "scheme",
        ),
        (
            json!({"endpoint": receiver.endpoint("push/x"), "keys": {"p256dh": "AAAA", "auth": receiver.auth}}),
            "short key",
        ),
        (
            json!({"endpoint": receiver.endpoint("push/x"), "keys": {"p256dh": receiver.p256dh, "auth": "AAAA"}}),
            "short auth",
        ),
    ] {
        let (status, body) = server
            .post("/api/push/subscriptions", Some(&bob.token), bad)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_subscription")),
            "{why}: {body}"
        );
    }

    subscribe(&server, &bob, receiver.subscription("push/bob")).await;
    let sent = server.post_message(&alice, room, "hello bob").await;

    let (payload, report) = receiver.next_payload().await;
    assert_eq!(report["path"], "/push/bob");
    assert_eq!(report["k"], key, "signed with the key the server hands out");
    assert_eq!(report["topic"], format!("room-{room}"));
    assert_eq!(report["urgency"], "normal");
    assert_eq!(
        payload,
        json!({
            "type": "message",
            "roomId": room,
            "seq": 1,
            "sender": sent["sender"],
            "text": "hello bob",
            "sentAt": sent["sentAt"],
            "count": 1,
        })
    );
    // The sender's own devices get nothing: alice has none, and bob's next push is his.
    assert_eq!(
        server
            .request(
                Method::DELETE,
                "/api/push/subscriptions",
                Some(&alice.token),
                Some(json!({"endpoint": receiver.endpoint("push/bob")})),
            )
            .await
            .0,
        404,
        "a user cannot remove another's device"
    );
    let (status, _) = server
        .request(
            Method::DELETE,
            "/api/push/subscriptions",
            Some(&bob.token),
            Some(json!({"endpoint": receiver.endpoint("push/bob")})),
        )
        .await;
    assert_eq!(status, 204);
    subscribe(&server, &bob, receiver.subscription("push/bob-again")).await;
    server.post_message(&alice, room, "second").await;
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(
        report["path"], "/push/bob-again",
        "the removed device got nothing"
    );
    assert_eq!(payload["text"], "second");
}

async fn a_user_shown_the_room_gets_no_push_and_a_muted_room_only_mentions(store: StoreBackend) {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let server = store.spawn(with_push).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let team = server.group(&alice, "team", &[&bob, &carol]).await;
    let other = server.direct(&alice, &bob).await;
    subscribe(&server, &bob, receiver.subscription("push/bob")).await;

    // Bob has the team room open: no push for it; the direct room is not open: a push.
    let mut viewing = Stomp::connect(&server, &bob.token).await;
    viewing
        .subscribe("t", &format!("/topic/rooms/{team}"))
        .await;
    server.post_message(&alice, team, "you see this").await;
    viewing.until(|f| carries_text(f, "you see this")).await;
    server.post_message(&alice, other, "marker one").await;
    let (payload, _) = receiver.next_payload().await;
    assert_eq!(
        payload["text"], "marker one",
        "the shown room was not pushed"
    );
    viewing.close().await;

    // Muted: the room says so, no push, and the live notification is marked quiet...
    let (status, room) = server
        .request(
            Method::PUT,
            &format!("/api/rooms/{team}/mute"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!((status, &room["muted"]), (200, &json!(true)), "{room}");
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    let listed = rooms
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == team)
        .expect("team listed");
    assert_eq!(listed["muted"], true);
    let (_, carols) = server
        .get(&format!("/api/rooms/{team}"), Some(&carol.token))
        .await;
    assert!(carols.get("muted").is_none(), "a mute is one member's");
    let outsider = server.user("dave").await;
    let (status, refused) = server
        .request(
            Method::PUT,
            &format!("/api/rooms/{team}/mute"),
            Some(&outsider.token),
            None,
        )
        .await;
    assert_eq!(status, 403, "{refused}");

    let mut notified = Stomp::connect(&server, &bob.token).await;
    notified.subscribe("n", NOTIFICATIONS).await;
    server.post_message(&alice, team, "quiet please").await;
    let note = body(
        notified
            .until(|f| carries_text(f, "quiet please"))
            .await
            .last()
            .expect("note"),
    );
    assert_eq!(note["muted"], true);
    assert_eq!(note["unread"], 2, "a muted room still counts unread");
    // ...but a mention comes through, pushed and not marked quiet.
    server
        .post_message(&alice, team, "@bob this one is for you")
        .await;
    let note = body(
        notified
            .until(|f| carries_text(f, "@bob this one is for you"))
            .await
            .last()
            .expect("note"),
    );
    assert!(note.get("muted").is_none(), "{note}");
    assert_eq!(note["mention"], true);
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(
        payload["text"], "@bob this one is for you",
        "the quiet one was not pushed"
    );
    assert_eq!(payload["mention"], true);
    assert_eq!(report["urgency"], "high");

    // Unmuted: pushed again.
    let (status, room) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{team}/mute"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(room.get("muted").is_none(), "{room}");
    server.post_message(&carol, team, "loud again").await;
    let (payload, _) = receiver.next_payload().await;
    assert_eq!(payload["text"], "loud again");
}

async fn a_gone_subscription_is_removed_and_never_tried_again(store: StoreBackend) {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let server = store.spawn(with_push).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    subscribe(&server, &bob, receiver.subscription("gone/old-phone")).await;
    subscribe(&server, &bob, receiver.subscription("push/laptop")).await;

    server.post_message(&alice, room, "first").await;
    let mut paths = vec![
        receiver.next().await["path"].clone(),
        receiver.next().await["path"].clone(),
    ];
    paths.sort_by_key(|p| p.to_string());
    assert_eq!(paths, vec![json!("/gone/old-phone"), json!("/push/laptop")]);
    until_metric(&server, "sotong_push_gone_total", 1).await;

    server.post_message(&alice, room, "second").await;
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(report["path"], "/push/laptop");
    assert_eq!(payload["text"], "second");
    server.post_message(&alice, room, "third").await;
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(
        (report["path"].as_str(), payload["text"].as_str()),
        (Some("/push/laptop"), Some("third")),
        "the gone endpoint was not tried again"
    );
    assert_eq!(server.metric("sotong_push_gone_total").await, 1);
}

async fn a_burst_in_one_room_is_collapsed_into_two_pushes(store: StoreBackend) {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let server = store
        .spawn(|config| {
            with_push(config);
            config.push.collapse_ms = 1500;
        })
        .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let other = server.group(&alice, "other", &[&bob]).await;
    subscribe(&server, &bob, receiver.subscription("push/bob")).await;

    for i in 1..=20 {
        server
            .post_message(&alice, room, &format!("burst {i}"))
            .await;
    }
    let (first, _) = receiver.next_payload().await;
    assert_eq!(
        (first["text"].as_str(), first["count"].as_u64()),
        (Some("burst 1"), Some(1))
    );
    let (rest, report) = receiver.next_payload().await;
    assert_eq!(report["topic"], format!("room-{room}"));
    assert_eq!(
        (
            rest["text"].as_str(),
            rest["count"].as_u64(),
            rest["seq"].as_u64()
        ),
        (Some("burst 20"), Some(19), Some(20)),
        "one trailing push stands for the other 19"
    );
    // Another room is not held back by this one's window, and nothing else came before it.
    server.post_message(&alice, other, "elsewhere").await;
    let (payload, _) = receiver.next_payload().await;
    assert_eq!(payload["text"], "elsewhere", "20 messages, 2 requests");
    until_metric(&server, "sotong_push_sent_total", 3).await;
}

/// After `POST /api/logout/all` the user's devices get no more pushes: their subscriptions
/// are gone with the sessions.
async fn logging_out_everywhere_stops_pushes_to_the_users_devices(store: StoreBackend) {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let server = store.spawn(with_push).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let with_bob = server.direct(&alice, &bob).await;
    let with_carol = server.direct(&alice, &carol).await;
    subscribe(&server, &bob, receiver.subscription("push/bob-phone")).await;
    subscribe(&server, &carol, receiver.subscription("push/carol")).await;
    server.post_message(&alice, with_bob, "before").await;
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(
        (report["path"].as_str(), payload["text"].as_str()),
        (Some("/push/bob-phone"), Some("before"))
    );

    let (status, _) = server
        .post("/api/logout/all", Some(&bob.token), json!({}))
        .await;
    assert_eq!(status, 204);
    // Committed in this order, queued for pushing in this order: had Bob's phone kept its
    // subscription, its request would come first.
    server
        .post_message(&alice, with_bob, "after, for bob")
        .await;
    server
        .post_message(&alice, with_carol, "after, for carol")
        .await;
    let (payload, report) = receiver.next_payload().await;
    assert_eq!(
        (report["path"].as_str(), payload["text"].as_str()),
        (Some("/push/carol"), Some("after, for carol")),
        "Bob's phone got no push after logging out everywhere"
    );
    until_metric(&server, "sotong_push_sent_total", 2).await;
}

/// Two nodes sharing Redis: a room open on node two holds back the push of a message
/// committed on node one; once closed, it is pushed.
#[tokio::test]
async fn a_room_shown_on_another_node_is_not_pushed() {
    let Some(mut receiver) = Receiver::start() else {
        return;
    };
    let prefix = Arc::new(Mutex::new(String::new()));
    let seen = prefix.clone();
    let (one, two) = TestServer::spawn_two_nodes(move |config| {
        with_push(config);
        *seen.lock().expect("lock") = config.redis_channel_prefix.clone();
    })
    .await;
    let prefix = prefix.lock().expect("lock").clone();
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    let other = one.group(&alice, "other", &[&bob]).await;
    subscribe(&one, &bob, receiver.subscription("push/bob")).await;

    let mut viewing = Stomp::connect(&two, &bob.token).await;
    viewing
        .subscribe("t", &format!("/topic/rooms/{room}"))
        .await;
    let key = format!("{prefix}:showing:{}:{room}", bob.id);
    let redis = redis::Client::open(
        std::env::var("SOTONG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    )
    .expect("redis client");
    let mut conn = redis
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    until_key(&mut conn, &key, true).await;

    one.post_message(&alice, room, "seen on node two").await;
    viewing.until(|f| carries_text(f, "seen on node two")).await;
    one.post_message(&alice, other, "marker").await;
    let (payload, _) = receiver.next_payload().await;
    assert_eq!(
        payload["text"], "marker",
        "the room shown on node two was not pushed"
    );

    viewing.close().await;
    until_key(&mut conn, &key, false).await;
    one.post_message(&alice, room, "now pushed").await;
    let (payload, _) = receiver.next_payload().await;
    assert_eq!(payload["text"], "now pushed");
}

/// Waits until node two has written (or removed) its entry for the shown room.
async fn until_key(conn: &mut redis::aio::MultiplexedConnection, key: &str, present: bool) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let count: i64 = redis::cmd("ZCARD")
                .arg(key)
                .query_async(conn)
                .await
                .expect("ZCARD");
            if (count > 0) == present {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "{key} present: {present} within 10 s");
}

/// Waits until the server counts `value` in `name` (it counts once the store has the outcome).
async fn until_metric(server: &TestServer, name: &str, value: i64) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if server.metric(name).await == value {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{name} reached {value} within 10 s");
}
