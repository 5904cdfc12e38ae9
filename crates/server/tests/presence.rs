//! Presence over STOMP, on SQLite and on PostgreSQL, and across two nodes: a watcher hears a
//! user go online, away and offline (with a last sighting, after the last of several
//! connections closed and the grace ran out), one frame per change and watching connection
//! however many rooms they share, nothing about users it shares no room with, and nothing but
//! `offline` about a user who hides it. Every wait is for an event; the grace and interval are
//! short in tests (`test_config`).

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

const PRESENCE: &str = "/user/queue/presence";

on_both_stores!(
    online_away_and_offline_with_last_seen_after_the_last_connection,
    nothing_about_a_user_who_shares_no_room,
    a_room_mate_who_leaves_is_watched_no_more,
    a_hidden_user_shows_offline_without_a_last_sighting,
    many_shared_rooms_cost_one_frame_per_watching_connection,
    bad_presence_frames_get_an_error_and_the_connection_goes_on,
);

/// A connection of `user` that subscribes to presence (and errors) and watches `users`;
/// returns it with the answer to its watch list.
async fn watcher(server: &TestServer, user: &TestUser, users: &[i64]) -> (Stomp, Vec<Value>) {
    let mut stomp = Stomp::connect(server, &user.token).await;
    stomp.subscribe("e", "/user/queue/errors").await;
    stomp.subscribe("p", PRESENCE).await;
    let snapshot = watch(&mut stomp, users).await;
    (stomp, snapshot)
}

/// Sends a watch list and returns the answer (the presence frame before the receipt).
async fn watch(stomp: &mut Stomp, users: &[i64]) -> Vec<Value> {
    stomp
        .send_frame(
            Frame::new(Command::Send)
                .with_header("destination", "/app/presence/watch")
                .with_header("content-type", "application/json")
                .with_header("receipt", "w")
                .with_body(json!({ "userIds": users }).to_string().into_bytes()),
        )
        .await;
    let frames = stomp.until(|f| is_receipt(f, "w")).await;
    let answers: Vec<Vec<Value>> = frames.iter().filter_map(presence_users).collect();
    assert_eq!(answers.len(), 1, "one answer to a watch list: {answers:?}");
    answers.into_iter().next().unwrap_or_default()
}

/// Reports a connection's activity, with a receipt.
async fn report(stomp: &mut Stomp, state: &str) {
    stomp
        .send_frame(
            Frame::new(Command::Send)
                .with_header("destination", "/app/presence")
                .with_header("content-type", "application/json")
                .with_header("receipt", "r")
                .with_body(json!({ "state": state }).to_string().into_bytes()),
        )
        .await;
    stomp.until(|f| is_receipt(f, "r")).await;
}

/// The users of a presence frame, or `None` for another frame.
fn presence_users(frame: &Frame) -> Option<Vec<Value>> {
    (frame.command == Command::Message && frame.header("destination") == Some(PRESENCE)).then(
        || {
            let body = body(frame);
            assert_eq!(body["type"], "presence", "{body}");
            body["users"].as_array().cloned().unwrap_or_default()
        },
    )
}

/// Every presence entry `stomp` receives until one says `user` is `state` (that one last).
async fn until_state(stomp: &mut Stomp, user: i64, state: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    stomp
        .until(|frame| {
            let Some(users) = presence_users(frame) else {
                return false;
            };
            let done = users
                .iter()
                .any(|u| u["userId"] == user && u["state"] == state);
            seen.extend(users);
            done
        })
        .await;
    seen
}

fn states_of(entries: &[Value], user: i64) -> Vec<String> {
    entries
        .iter()
        .filter(|u| u["userId"] == user)
        .map(|u| u["state"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn set_visible(server: &TestServer, user: &TestUser, visible: bool) {
    let (status, me) = server
        .request(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            Some(json!({ "presenceVisible": visible })),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["presenceVisible"], visible, "{me}");
    assert_eq!(me["id"], user.id, "{me}");
}

async fn online_away_and_offline_with_last_seen_after_the_last_connection(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.direct(&alice, &bob).await;

    let (mut b, snapshot) = watcher(&server, &bob, &[alice.id]).await;
    assert_eq!(
        snapshot,
        vec![json!({"userId": alice.id, "state": "offline", "lastSeenAt": null})],
        "never seen"
    );

    let mut a1 = Stomp::connect(&server, &alice.token).await;
    let seen = until_state(&mut b, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    let mut a2 = Stomp::connect(&server, &alice.token).await;

    // One connection away, the other still in use: still online. Both away: away.
    report(&mut a1, "away").await;
    report(&mut a2, "away").await;
    let seen = until_state(&mut b, alice.id, "away").await;
    assert_eq!(states_of(&seen, alice.id), vec!["away"], "nothing between");

    // Back to active on one, then that one closes: away again (the other is away).
    report(&mut a1, "active").await;
    let seen = until_state(&mut b, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    a1.close().await;
    let seen = until_state(&mut b, alice.id, "away").await;
    assert_eq!(states_of(&seen, alice.id), vec!["away"]);

    // The last connection closes: offline after the grace, with when.
    let before = time_now_millis();
    a2.close().await;
    let seen = until_state(&mut b, alice.id, "offline").await;
    assert_eq!(states_of(&seen, alice.id), vec!["offline"]);
    let last_seen = seen
        .last()
        .and_then(|u| u["lastSeenAt"].as_str())
        .expect("a last sighting")
        .to_string();
    assert!(last_seen.ends_with('Z'), "{last_seen}");

    // Stored: a new watch list gets it back, after a restart too.
    let (_b2, snapshot) = watcher(&server, &bob, &[alice.id]).await;
    assert_eq!(snapshot[0]["state"], "offline");
    assert_eq!(snapshot[0]["lastSeenAt"], last_seen.as_str());
    assert!(before > 0);
}

fn time_now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn nothing_about_a_user_who_shares_no_room(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    server.direct(&alice, &bob).await;
    server.direct(&carol, &bob).await;

    let (mut b, _) = watcher(&server, &bob, &[alice.id]).await;
    // Carol shares a room with Bob, none with Alice: Alice is left out of the answer.
    let (mut c, snapshot) = watcher(&server, &carol, &[alice.id, bob.id]).await;
    assert_eq!(snapshot.len(), 1, "{snapshot:?}");
    assert_eq!(snapshot[0]["userId"], bob.id);
    assert_eq!(snapshot[0]["state"], "online", "Bob is connected");

    let _a = Stomp::connect(&server, &alice.token).await;
    until_state(&mut b, alice.id, "online").await;
    // Published after Alice's change: Carol hears Bob's and never Alice's.
    report(&mut b, "away").await;
    let seen = until_state(&mut c, bob.id, "away").await;
    assert!(states_of(&seen, alice.id).is_empty(), "{seen:?}");
}

/// Presence is for room mates: when Alice leaves the only room she shares with Bob, his
/// connection stops hearing of her before anything published after the leave reaches it.
async fn a_room_mate_who_leaves_is_watched_no_more(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let group = server.group(&alice, "trio", &[&bob, &carol]).await;
    // Bob and Carol share a room besides the group; Alice shares none with either.
    server.direct(&bob, &carol).await;

    let (mut b, snapshot) = watcher(&server, &bob, &[alice.id, carol.id]).await;
    assert_eq!(snapshot.len(), 2, "both are room mates: {snapshot:?}");
    let (mut a, _) = watcher(&server, &alice, &[]).await;
    until_state(&mut b, alice.id, "online").await;
    let (mut c, _) = watcher(&server, &carol, &[]).await;
    until_state(&mut b, carol.id, "online").await;

    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{group}/members/me"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // Published after the leave: Bob hears Carol's change and never Alice's.
    report(&mut a, "away").await;
    report(&mut c, "away").await;
    let seen = until_state(&mut b, carol.id, "away").await;
    assert!(states_of(&seen, alice.id).is_empty(), "{seen:?}");
    // Asking again gets nothing about her either.
    let answer = watch(&mut b, &[alice.id, carol.id]).await;
    assert_eq!(
        states_of(&answer, alice.id),
        Vec::<String>::new(),
        "{answer:?}"
    );
    assert_eq!(states_of(&answer, carol.id), ["away"], "{answer:?}");
}

async fn a_hidden_user_shows_offline_without_a_last_sighting(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.direct(&alice, &bob).await;
    set_visible(&server, &alice, false).await;
    let (status, me) = server.get("/api/me", Some(&alice.token)).await;
    assert_eq!((status, &me["presenceVisible"]), (200, &json!(false)));

    let (mut b, _) = watcher(&server, &bob, &[alice.id]).await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    // Hidden users still see others.
    a.subscribe("p", PRESENCE).await;
    let seen = watch(&mut a, &[bob.id]).await;
    assert_eq!(seen[0]["state"], "online");

    let (_b2, snapshot) = watcher(&server, &bob, &[alice.id]).await;
    assert_eq!(
        snapshot,
        vec![json!({"userId": alice.id, "state": "offline", "lastSeenAt": null})],
        "connected, and hidden"
    );
    set_visible(&server, &alice, true).await;
    let seen = until_state(&mut b, alice.id, "online").await;
    assert!(
        seen.iter()
            .filter(|u| u["userId"] == alice.id)
            .all(|u| u["state"] == "online" || u["lastSeenAt"].is_null()),
        "{seen:?}"
    );
    set_visible(&server, &alice, false).await;
    let seen = until_state(&mut b, alice.id, "offline").await;
    assert_eq!(
        seen.last().map(|u| u["lastSeenAt"].clone()),
        Some(Value::Null)
    );
}

async fn many_shared_rooms_cost_one_frame_per_watching_connection(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.direct(&alice, &bob).await;
    for i in 0..25 {
        server.group(&alice, &format!("g{i}"), &[&bob]).await;
    }
    // Two connections of Bob watch Alice; one of them subscribes twice (two ids, two frames:
    // STOMP's rule), and a stock client that never asks for presence hears nothing.
    let (mut b1, _) = watcher(&server, &bob, &[alice.id]).await;
    let (mut b2, _) = watcher(&server, &bob, &[alice.id]).await;
    b2.subscribe("p2", PRESENCE).await;
    let mut stock = Stomp::connect(&server, &bob.token).await;
    stock.subscribe("n", "/user/queue/notifications").await;

    // Bob's own coming online is published once, after his first CONNECT was answered.
    server
        .until_metric("sotong_presence_published_total", "Bob online", |n| n >= 1)
        .await;
    let published = server.metric("sotong_presence_published_total").await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    let seen = until_state(&mut b1, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    let seen = until_state(&mut b2, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    report(&mut a, "away").await;
    // Frames until Alice is away: exactly one more online (the second subscription's) on b2,
    // none on b1, each of them away.
    let seen = until_state(&mut b1, alice.id, "away").await;
    assert_eq!(states_of(&seen, alice.id), vec!["away"]);
    let seen = until_state(&mut b2, alice.id, "away").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online", "away"]);
    // Two changes of Alice published (online, away), whatever the 26 rooms.
    let after = server.metric("sotong_presence_published_total").await;
    assert_eq!(after - published, 2);

    // The stock client got nothing but what it asked for: its next frame is its receipt.
    stock
        .send_frame(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let frames = stock.until(|f| is_receipt(f, "bye")).await;
    assert_eq!(
        frames.len(),
        1,
        "{:?}",
        frames.iter().map(body_text).collect::<Vec<_>>()
    );
}

async fn bad_presence_frames_get_an_error_and_the_connection_goes_on(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let (mut a, _) = watcher(&server, &alice, &[]).await;
    for (destination, request, code) in [
        ("/app/presence", json!({"state": "asleep"}), "invalid"),
        ("/app/presence/watch", json!({"userIds": "all"}), "invalid"),
        (
            "/app/presence/watch",
            json!({"userIds": (0..1001).collect::<Vec<_>>()}),
            "too_large",
        ),
    ] {
        a.send_frame(
            Frame::new(Command::Send)
                .with_header("destination", destination)
                .with_header("receipt", "bad")
                .with_body(request.to_string().into_bytes()),
        )
        .await;
        let frames = a.until(|f| is_error_for(f, "bad")).await;
        let error = body(frames.last().expect("an error"));
        assert_eq!(error["code"], code, "{destination}: {error}");
    }
    // Still watching, still connected: the answer to a new list comes.
    assert_eq!(watch(&mut a, &[alice.id]).await[0]["state"], "online");
}

#[tokio::test]
async fn presence_crosses_nodes_and_a_user_on_two_nodes_is_at_its_best() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    one.direct(&alice, &bob).await;

    let (mut b, _) = watcher(&two, &bob, &[alice.id]).await;
    let mut a1 = Stomp::connect(&one, &alice.token).await;
    let seen = until_state(&mut b, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    let mut a2 = Stomp::connect(&two, &alice.token).await;
    report(&mut a2, "away").await;
    // Node one's connection is active: Alice stays online. Then it goes away too.
    report(&mut a1, "away").await;
    let seen = until_state(&mut b, alice.id, "away").await;
    assert_eq!(states_of(&seen, alice.id), vec!["away"]);
    a1.close().await;
    report(&mut a2, "active").await;
    let seen = until_state(&mut b, alice.id, "online").await;
    assert_eq!(states_of(&seen, alice.id), vec!["online"]);
    a2.close().await;
    let seen = until_state(&mut b, alice.id, "offline").await;
    assert!(
        seen.last().is_some_and(|u| u["lastSeenAt"].is_string()),
        "{seen:?}"
    );
}

/// Two nodes with `tune`; Alice online on node two, watched by Bob on node one. Returns node
/// one, node two, Bob's watching connection, Alice's connection and Alice's id.
async fn alice_on_node_two_watched_from_one(
    tune: impl Fn(&mut sotong_server::Config),
) -> (TestServer, TestServer, Stomp, Stomp, i64) {
    let (one, two) = TestServer::spawn_two_nodes(tune).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    one.direct(&alice, &bob).await;
    let (mut b, _) = watcher(&one, &bob, &[alice.id]).await;
    let a = Stomp::connect(&two, &alice.token).await;
    until_state(&mut b, alice.id, "online").await;
    (one, two, b, a, alice.id)
}

#[tokio::test]
async fn a_node_that_stops_lets_its_users_go_at_once() {
    // A grace and a record lifetime far longer than the test's patience: only the stopping
    // node letting Alice go can show her offline in time.
    let (one, two, mut b, _a, alice) = alice_on_node_two_watched_from_one(|config| {
        config.presence_grace_ms = 600_000;
        config.presence_ttl_ms = 600_000;
    })
    .await;
    two.stop().await;
    let seen = until_state(&mut b, alice, "offline").await;
    assert!(
        seen.last().is_some_and(|u| u["lastSeenAt"].is_string()),
        "{seen:?}"
    );
    // Nothing of the stopped node is left behind: a new watcher hears she is offline.
    let bob = one.user("bob").await;
    let (_, answer) = watcher(&one, &bob, &[alice]).await;
    assert_eq!(states_of(&answer, alice), vec!["offline"]);
}

#[tokio::test]
async fn a_node_that_dies_leaves_its_users_offline_once_their_records_lapse() {
    // A short TTL: the dead node's records lapse within a second. Node one holds the
    // database, so node two is the one that goes.
    let (_one, two, mut b, _a, alice) =
        alice_on_node_two_watched_from_one(|config| config.presence_ttl_ms = 600).await;
    // Gone: its presence task stops with it and says nothing of Alice leaving.
    drop(two);
    let seen = until_state(&mut b, alice, "offline").await;
    assert!(
        seen.last().is_some_and(|u| u["lastSeenAt"].is_string()),
        "{seen:?}"
    );
}
