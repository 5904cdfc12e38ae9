//! Several `sotong serve` processes as a deployment runs them: one PostgreSQL database of the
//! test's own, and Redis, either the machine's (under a channel prefix of the test's own) or a
//! `redis-server` process of the test's own when the test kills it. The delivery rules hold
//! across processes: a message sent on one node reaches the room's members on another, on the
//! room topic or as a notification, one copy per socket; two nodes writing to one room give
//! gap-free seqs that every receiver sees in order; a node killed with SIGKILL mid-burst loses
//! no receipted message for the clients that move to another node; a Redis restart loses no
//! message to a topic and tells a notification-only client to resync; a logout on one node
//! closes the token's socket on another; and a client told it is connected misses nothing
//! published on another node afterwards.
//!
//! PostgreSQL and Redis must run (127.0.0.1:5432 and :6379, or `SOTONG_TEST_DATABASE_URL`,
//! `SOTONG_TEST_REDIS_URL`); without them these tests fail, saying so.

use serde_json::json;
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// The binary under test.
const SOTONG: &str = env!("CARGO_BIN_EXE_sotong");

/// Every node checks its watched rooms' heads this often (ms): a message committed by a node
/// that died before publishing it reaches the other nodes' viewers soon.
const ROOM_HEAD_CHECK: &[&str] = &["--room-head-check-ms", "100", "--node-heartbeat-ms", "500"];

/// `count` nodes on the machine's Redis (failing, saying so, when it does not answer).
async fn cluster(count: usize) -> Cluster {
    redis_admin().await;
    Cluster::start(SOTONG, &vec![redis_url(); count], ROOM_HEAD_CHECK).await
}

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

const NOTIFICATIONS: &str = "/user/queue/notifications";

/// A SEND of `text` to `room` whose `client-msg-id` and `receipt` are both `id`.
fn send(room: i64, id: &str, text: &str) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", format!("/app/rooms/{room}"))
        .with_header("content-type", "application/json")
        .with_header("client-msg-id", id)
        .with_header("receipt", id)
        .with_body(json!({ "text": text }).to_string().into_bytes())
}

/// The seqs of the room-topic messages among `frames`, in arrival order.
fn topic_seqs(frames: &[Frame]) -> Vec<u64> {
    topic_messages(frames).into_iter().map(|m| m.1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_node_a_reaches_node_b_on_the_topic_and_as_a_notification() {
    let cluster = cluster(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let carol = b.user("carol").await;
    let room = a.group(&alice, "crew", &[&bob, &carol]).await;

    let mut viewing = Stomp::connect_to(b.addr, &bob.token).await;
    viewing.subscribe("t", &topic(room)).await;
    let mut notified = Stomp::connect_to(b.addr, &carol.token).await;
    notified.subscribe("n", NOTIFICATIONS).await;
    let mut sender = Stomp::connect_to(a.addr, &alice.token).await;

    sender.send_frame(send(room, "m1", "hello from A")).await;
    sender.until(|f| is_receipt(f, "m1")).await;
    sender.send_frame(send(room, "m2", "and again")).await;
    sender.until(|f| is_receipt(f, "m2")).await;

    let frames = viewing.until(|f| carries_text(f, "and again")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![
            (room, 1, "hello from A".into()),
            (room, 2, "and again".into())
        ],
        "on the topic, on the other node, once each"
    );
    assert!(notified_messages(&frames).is_empty(), "never both routes");
    let frames = notified.until(|f| carries_text(f, "and again")).await;
    assert_eq!(
        notified_messages(&frames),
        vec![
            (room, 1, "hello from A".into(), 1),
            (room, 2, "and again".into(), 2)
        ],
        "as notifications with the unread count, on the other node, once each"
    );
    assert!(topic_messages(&frames).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_sockets_on_two_nodes_gets_one_copy_per_socket() {
    let cluster = cluster(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let room = a.direct(&alice, &bob).await;

    // Bob: a topic and a notification-only socket on each node; Alice's other device on B.
    let mut sockets = Vec::new();
    for (node, route) in [
        (a, "topic"),
        (a, "notifications"),
        (b, "topic"),
        (b, "notifications"),
    ] {
        let mut socket = Stomp::connect_to(node.addr, &bob.token).await;
        match route {
            "topic" => socket.subscribe("t", &topic(room)).await,
            _ => socket.subscribe("n", NOTIFICATIONS).await,
        }
        sockets.push((
            format!("bob's {route} socket on {}", node.addr),
            route,
            socket,
        ));
    }
    let mut other_device = Stomp::connect_to(b.addr, &alice.token).await;
    other_device.subscribe("n", NOTIFICATIONS).await;
    sockets.push(("alice's other device".into(), "notifications", other_device));

    let mut sender = Stomp::connect_to(a.addr, &alice.token).await;
    for i in 1..=5 {
        sender
            .send_frame(send(room, &format!("m{i}"), &format!("text {i}")))
            .await;
    }
    sender.until(|f| is_receipt(f, "m5")).await;

    for (name, route, socket) in &mut sockets {
        let frames = socket.until(|f| carries_text(f, "text 5")).await;
        let (topic_seen, notified_seen): (Vec<u64>, Vec<u64>) = (
            topic_seqs(&frames),
            notified_messages(&frames).iter().map(|m| m.1).collect(),
        );
        let (on_route, off_route) = match *route {
            "topic" => (topic_seen, notified_seen),
            _ => (notified_seen, topic_seen),
        };
        assert_eq!(
            on_route,
            vec![1, 2, 3, 4, 5],
            "{name}: one copy each, in order"
        );
        assert!(off_route.is_empty(), "{name}: never on the other route");
    }
}

/// Sends `count` messages to `room` as fast as receipts allow (`window` in flight), all with
/// receipts; returns each one's receipted seq by `client-msg-id`.
async fn burst(
    addr: SocketAddr,
    token: String,
    room: i64,
    label: &'static str,
    count: usize,
) -> HashMap<String, u64> {
    let mut socket = Stomp::connect_to(addr, &token).await;
    let mut receipted = HashMap::new();
    let mut sent = 0;
    while receipted.len() < count {
        while sent < count && sent - receipted.len() < 16 {
            let id = format!("{label}-{sent}");
            socket.send_frame(send(room, &id, &id)).await;
            sent += 1;
        }
        let frame = socket.next().await.expect("the node stays up");
        if let (Command::Receipt, Some(id), Some(seq)) = (
            &frame.command,
            frame.header("receipt-id"),
            frame.header("seq"),
        ) {
            receipted.insert(id.to_string(), seq.parse().expect("a seq"));
        }
    }
    receipted
}

/// Reads `socket`'s room-topic messages until seq `last` arrived; returns their seqs.
async fn topic_until(mut socket: Stomp, last: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let frame = socket.next().await.expect("the node stays up");
        seqs.extend(topic_seqs(std::slice::from_ref(&frame)));
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_writing_to_one_room_at_once_give_gap_free_seqs_seen_in_order() {
    const EACH: usize = 200;
    let cluster = cluster(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let carol = a.user("carol").await;
    let dave = b.user("dave").await;
    let room = a.group(&alice, "busy", &[&bob, &carol, &dave]).await;
    let total = 2 * EACH as u64;

    let mut receivers = Vec::new();
    for (node, user) in [(a, &carol), (b, &dave)] {
        let mut socket = Stomp::connect_to(node.addr, &user.token).await;
        socket.subscribe("t", &topic(room)).await;
        receivers.push(tokio::spawn(topic_until(socket, total)));
    }
    let from_a = tokio::spawn(burst(a.addr, alice.token.clone(), room, "a", EACH));
    let from_b = tokio::spawn(burst(b.addr, bob.token.clone(), room, "b", EACH));
    let (from_a, from_b) = (
        from_a.await.expect("A's sender"),
        from_b.await.expect("B's sender"),
    );

    let mut seqs: Vec<u64> = from_a.values().chain(from_b.values()).copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "receipts: 1..N, no gap, no duplicate"
    );
    for receiver in receivers {
        let seen = receiver.await.expect("receiver");
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<_>>(),
            "each receiver: in order, once each"
        );
    }
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = a
            .history(&alice, room, &format!("?after={after}&limit=200"))
            .await;
        let Some(last) = page.last() else { break };
        after = last["seq"].as_u64().expect("seq");
        stored.extend(page.iter().map(|m| m["seq"].as_u64().expect("seq")));
    }
    assert_eq!(stored, (1..=total).collect::<Vec<_>>(), "the store agrees");
}

/// A sender that fails over: sends `count` messages (`window` in flight) to node `first`, and
/// when that node dies, reconnects to `then` and sends every message not receipted yet again,
/// with the same `client-msg-id`. Reports its receipt count on `progress`; returns each
/// message's receipted seq and whether it failed over.
async fn send_failing_over(
    (first, then): (SocketAddr, SocketAddr),
    token: String,
    room: i64,
    label: &'static str,
    count: usize,
    progress: watch::Sender<usize>,
) -> (HashMap<String, u64>, bool) {
    let mut addr = first;
    let mut receipted = HashMap::new();
    let mut failed_over = false;
    let mut next = 0;
    'connection: loop {
        let mut socket = Stomp::connect_to(addr, &token).await;
        let mut in_flight: HashSet<String> = HashSet::new();
        // After a failover: everything sent but not receipted goes again, same id.
        for i in 0..next {
            let id = format!("{label}-{i}");
            if !receipted.contains_key(&id) {
                socket.send_frame(send(room, &id, &id)).await;
                in_flight.insert(id);
            }
        }
        while receipted.len() < count {
            while next < count && in_flight.len() < 8 {
                let id = format!("{label}-{next}");
                if socket.try_send_frame(send(room, &id, &id)).await.is_err() {
                    next += 1;
                    break;
                }
                in_flight.insert(id);
                next += 1;
            }
            let Some(frame) = socket.next().await else {
                assert!(!failed_over, "{label}: the second node stays up");
                failed_over = true;
                addr = then;
                continue 'connection;
            };
            if let (Command::Receipt, Some(id), Some(seq)) = (
                &frame.command,
                frame.header("receipt-id"),
                frame.header("seq"),
            ) {
                in_flight.remove(id);
                receipted.insert(id.to_string(), seq.parse().expect("a seq"));
                progress.send_replace(receipted.len());
            }
        }
        return (receipted, failed_over);
    }
}

/// A receiver that fails over: follows the room's topic on `socket`, and when its node dies,
/// subscribes on `then` with `since-seq` of the last seq it saw. Returns the seqs it saw, in
/// order, once it saw `last`.
async fn receive_failing_over(
    mut socket: Stomp,
    then: SocketAddr,
    token: String,
    room: i64,
    last: u64,
) -> Vec<u64> {
    let mut seqs: Vec<u64> = Vec::new();
    while seqs.last().is_none_or(|seq| *seq < last) {
        match socket.next().await {
            Some(frame) => seqs.extend(topic_seqs(std::slice::from_ref(&frame))),
            None => {
                socket = Stomp::connect_to(then, &token).await;
                let since = seqs.last().copied().unwrap_or(0).to_string();
                let replayed = socket
                    .subscribe_with("t", &topic(room), &[("since-seq", &since)])
                    .await;
                seqs.extend(topic_seqs(&replayed));
            }
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_loses_no_receipted_message() {
    const EACH: usize = 400;
    let mut cluster = cluster(2).await;
    let (a, b) = (cluster.node(0).addr, cluster.node(1).addr);
    let alice = cluster.node(0).user("alice").await;
    let bob = cluster.node(1).user("bob").await;
    let carol = cluster.node(0).user("carol").await;
    let dave = cluster.node(1).user("dave").await;
    let erin = cluster.node(1).user("erin").await;
    let room = cluster
        .node(0)
        .group(&alice, "crash", &[&bob, &carol, &dave, &erin])
        .await;
    // Erin follows the room only through her notifications, on B: no room head check covers
    // her, so B must tell her to resync once A has stopped beating.
    let mut erin_notified = Stomp::connect_to(b, &erin.token).await;
    erin_notified.subscribe("n", NOTIFICATIONS).await;
    // Read all along (the burst's notifications come first), up to the resync.
    let erin_resync = tokio::spawn(async move {
        let frames = erin_notified
            .until(|f| f.command == Command::Message && body(f)["type"] == "resync")
            .await;
        body(frames.last().expect("the resync"))
    });

    // Carol watches on A (she moves to B), Dave on B; Alice sends on A (she moves to B), Bob
    // on B. Everyone is connected before the burst.
    let total = 2 * EACH as u64;
    let mut receivers = Vec::new();
    for (node, user) in [(a, &carol), (b, &dave)] {
        let mut socket = Stomp::connect_to(node, &user.token).await;
        socket.subscribe("t", &topic(room)).await;
        receivers.push(tokio::spawn(receive_failing_over(
            socket,
            b,
            user.token.clone(),
            room,
            total,
        )));
    }
    let (alice_progress, mut alice_receipts) = watch::channel(0);
    let (bob_progress, _) = watch::channel(0);
    let from_a = tokio::spawn(send_failing_over(
        (a, b),
        alice.token.clone(),
        room,
        "alice",
        EACH,
        alice_progress,
    ));
    let from_b = tokio::spawn(send_failing_over(
        (b, b),
        bob.token.clone(),
        room,
        "bob",
        EACH,
        bob_progress,
    ));

    // Mid-burst: once Alice has a few receipts, and long before her last.
    tokio::time::timeout(PATIENCE, alice_receipts.wait_for(|n| *n >= 40))
        .await
        .expect("receipts in time")
        .expect("the sender runs");
    cluster.kill(0);
    assert_eq!(
        erin_resync.await.expect("erin"),
        json!({"type": "resync", "reason": "node"}),
        "a notification-only connection on B learns that A died"
    );

    let (from_a, alice_failed_over) = from_a.await.expect("alice");
    let (from_b, _) = from_b.await.expect("bob");
    assert!(
        alice_failed_over,
        "Alice was cut off mid-burst and moved to B"
    );
    let mut seqs: Vec<u64> = from_a.values().chain(from_b.values()).copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "every message receipted once, a retry with its first seq: no gap, no duplicate"
    );
    for (name, receiver) in ["carol (moved from A to B)", "dave (on B)"]
        .into_iter()
        .zip(receivers)
    {
        let seen = receiver.await.expect("receiver");
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<_>>(),
            "{name}: every receipted message, once, in seq order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_message_and_tells_notification_only_clients_to_resync() {
    let mut redis = RedisProcess::start().await;
    let cluster = Cluster::start(SOTONG, &vec![redis.url(); 2], ROOM_HEAD_CHECK).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let carol = b.user("carol").await;
    let room = a.group(&alice, "outage", &[&bob, &carol]).await;

    let mut viewing = Stomp::connect_to(b.addr, &bob.token).await;
    viewing.subscribe("t", &topic(room)).await;
    let mut notified = Stomp::connect_to(b.addr, &carol.token).await;
    notified.subscribe("n", NOTIFICATIONS).await;
    let mut sender = Stomp::connect_to(a.addr, &alice.token).await;
    let mut sent = 0;
    let mut send_some = |how_many: usize| {
        let frames: Vec<Frame> = (sent + 1..=sent + how_many)
            .map(|i| send(room, &format!("m{i}"), &format!("text {i}")))
            .collect();
        sent += how_many;
        (frames, format!("m{sent}"))
    };

    let (frames, last) = send_some(3);
    for frame in frames {
        sender.send_frame(frame).await;
    }
    sender.until(|f| is_receipt(f, &last)).await;
    let before = notified.until(|f| carries_text(f, "text 3")).await;
    assert_eq!(
        notified_messages(&before)
            .iter()
            .map(|m| m.1)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    // Redis dies; Alice goes on sending on A (committed, receipted, never published).
    redis.kill();
    let (frames, last) = send_some(3);
    for frame in frames {
        sender.send_frame(frame).await;
    }
    sender.until(|f| is_receipt(f, &last)).await;
    redis.restart().await;

    // The notification-only client is told to resync, and can refetch what it missed.
    let frames = notified
        .until(|f| f.command == Command::Message && body(f)["type"] == "resync")
        .await;
    assert_eq!(
        body(frames.last().expect("resync")),
        json!({"type": "resync", "reason": "broker"})
    );
    let heard: Vec<u64> = notified_messages(&frames).iter().map(|m| m.1).collect();
    let refetched = b.history(&carol, room, "?after=3").await;
    let refetched: Vec<u64> = refetched
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        refetched,
        vec![4, 5, 6],
        "the store has what it may have missed"
    );
    assert!(
        heard.iter().all(|s| (4..=6).contains(s)),
        "nothing twice: {heard:?}"
    );

    // Both nodes back on Redis: what Alice sends now arrives live to both.
    a.until_healthy().await;
    b.until_healthy().await;
    let (frames, last) = send_some(3);
    for frame in frames {
        sender.send_frame(frame).await;
    }
    sender.until(|f| is_receipt(f, &last)).await;
    let after = notified.until(|f| carries_text(f, "text 9")).await;
    let after: Vec<u64> = notified_messages(&after).iter().map(|m| m.1).collect();
    assert_eq!(
        after
            .iter()
            .filter(|s| **s >= 7)
            .copied()
            .collect::<Vec<_>>(),
        vec![7, 8, 9],
        "live again after the resync"
    );

    // The topic lost nothing: what was sent during the outage came from the store.
    let seen = topic_until(viewing, 9).await;
    assert_eq!(
        seen,
        (1..=9).collect::<Vec<_>>(),
        "the topic, in order, once each"
    );
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_node_a_closes_the_token_s_socket_on_node_b() {
    let cluster = cluster(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let dana = a.password_user("dana", "long enough").await;
    let mut socket = Stomp::connect_to(b.addr, &dana.token).await;
    socket.subscribe("n", NOTIFICATIONS).await;

    let (status, _) = a
        .request(
            reqwest::Method::POST,
            "/api/logout",
            Some(&dana.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let error = socket.next().await.expect("an ERROR frame");
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert_eq!(error.header("message"), Some("unauthorized"));
    assert!(
        socket.next().await.is_none(),
        "the socket closes after the ERROR"
    );
    assert_eq!(b.get("/api/me", Some(&dana.token)).await.0, 401);
}

/// Node A reaches Redis through a slow link (every round trip a quarter second longer), B
/// directly: A's subscription to a user's channel takes effect well after the user's first
/// connection arrived there. A client told CONNECTED by A must still get, as a notification,
/// what B publishes the moment after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_sent_right_after_connected_on_another_node_arrives() {
    redis_admin().await;
    let machine_redis: SocketAddr = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("SOTONG_TEST_REDIS_URL is redis://IP:PORT for this test");
    let slow = SlowLink::start(machine_redis, Duration::from_millis(125)).await;
    let urls = [format!("redis://{}", slow.addr()), redis_url()];
    let cluster = Cluster::start(SOTONG, &urls, ROOM_HEAD_CHECK).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = b.user("alice").await;
    let bob = a.user("bob").await;
    let room = b.direct(&alice, &bob).await;
    let mut sender = Stomp::connect_to(b.addr, &alice.token).await;

    for round in 1..=3 {
        // Bob's first connection on A: CONNECTED, then at once a message from B.
        let mut phone = Stomp::connect_to(a.addr, &bob.token).await;
        phone.subscribe("n", NOTIFICATIONS).await;
        let text = format!("right after CONNECTED, round {round}");
        sender
            .send_frame(send(room, &format!("r{round}"), &text))
            .await;
        sender.until(|f| is_receipt(f, &format!("r{round}"))).await;
        let frames = phone.until(|f| carries_text(f, &text)).await;
        assert_eq!(
            notified_messages(&frames).last().map(|m| m.2.clone()),
            Some(text),
            "round {round}: heard on A although sent on B right after CONNECTED"
        );
        phone.close().await;
        // Gone from A before the next round, so that the next connection is a first one.
        a.until_metric("sotong_redis_subscribed_users", "0", |n| n == 0)
            .await;
    }
}
