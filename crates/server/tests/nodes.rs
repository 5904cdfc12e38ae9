//! Two server nodes as a deployment runs them: one PostgreSQL database (a scratch one of the
//! test's own) and one Redis (`SOTONG_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, with
//! channels under a prefix of this run's own). A message stored on one node reaches a member
//! connected to the other, live, with the room's next `seq`, and a client that moves to the
//! other node resumes there with `since-seq`. A logout on one node closes the token's sockets
//! on the other; typing and read marks cross nodes too. A message committed on a node that died
//! before publishing it reaches the room's viewers on the other node from the store. A node
//! whose Redis connection was lost tells its connections to resync once it is back; a node
//! that stops beating (dead, or cut off from Redis) makes the other nodes tell theirs.

use sotong_server::model::{RoomId, User, UserId};
use sotong_server::store::postgres::PostgresStore;
use sotong_server::store::{NewMessage, Store};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;
use std::time::Duration;

/// Fails the test, saying how to start one, when Redis does not answer.
async fn require_redis() {
    redis_admin().await;
}

/// Two nodes on one scratch database and one Redis, under a channel prefix of this run's own.
async fn two_nodes() -> (TestServer, TestServer) {
    two_nodes_with(|_| {}).await
}

/// [`two_nodes`], each node's configuration tuned by `tune` too.
async fn two_nodes_with(tune: impl Fn(&mut sotong_server::Config)) -> (TestServer, TestServer) {
    two_nodes_reaching_redis_as(None, &unique_redis_prefix(), tune).await
}

/// [`two_nodes_with`], node two reaching Redis through `two_url` when given (the same Redis
/// as another ACL user, so that a test can kill node two's connections alone).
async fn two_nodes_reaching_redis_as(
    two_url: Option<String>,
    prefix: &str,
    tune: impl Fn(&mut sotong_server::Config),
) -> (TestServer, TestServer) {
    let redis = redis_url();
    require_redis().await;
    let on_both = |config: &mut sotong_server::Config| {
        config.redis_url = Some(redis.clone());
        config.redis_channel_prefix = prefix.to_string();
        tune(config);
    };
    let one = TestServer::spawn_postgres(on_both).await;
    let database = one
        .database
        .as_ref()
        .expect("scratch database")
        .url()
        .to_string();
    let two = TestServer::spawn_with(|config| {
        on_both(config);
        config.database_url = Some(database);
        if let Some(url) = two_url {
            config.redis_url = Some(url);
        }
    })
    .await;
    (one, two)
}

/// Waits until `node` listens on Redis for `users` users: from then on, what another node
/// publishes to them reaches this one (a subscription takes one round trip to Redis).
async fn until_listening(node: &TestServer, users: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.metric("sotong_redis_subscribed_users").await < users {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not subscribe to {users} user channels in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

#[tokio::test]
async fn a_message_stored_on_one_node_reaches_a_member_on_the_other() {
    let (one, two) = two_nodes().await;

    let alice = one.user("alice").await;
    let bob = two.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    assert_eq!(two.direct(&bob, &alice).await, room);

    let mut a = Stomp::connect(&one, &alice.token).await;
    a.subscribe("d", &topic(room)).await;
    let mut b = Stomp::connect(&two, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;

    a.send_text(room, "from node one", "r1").await;
    let mine = a.until(|f| is_receipt(f, "r1")).await;
    assert_eq!(
        topic_messages(&mine),
        vec![(room, 1, "from node one".into())]
    );
    let notified = b.until(|f| carries_text(f, "from node one")).await;
    assert_eq!(
        notified_messages(&notified),
        vec![(room, 1, "from node one".into(), 1)],
        "across nodes, as a notification with the unread count"
    );

    b.send_text(room, "from node two", "r2").await;
    b.until(|f| is_receipt(f, "r2")).await;
    let live = a.until(|f| carries_text(f, "from node two")).await;
    assert_eq!(
        topic_messages(&live),
        vec![(room, 2, "from node two".into())]
    );

    // Alice moves to node two and resumes after what she holds.
    a.close().await;
    one.post_message(&bob, room, "while you moved").await;
    let mut a = Stomp::connect(&two, &alice.token).await;
    let replayed = a
        .subscribe_with("d", &topic(room), &[("since-seq", "2")])
        .await;
    assert_eq!(
        topic_messages(&replayed),
        vec![(room, 3, "while you moved".into())]
    );
    a.close().await;
    b.close().await;
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn a_logout_on_one_node_closes_the_token_s_socket_on_the_other() {
    let (one, two) = two_nodes().await;
    let dana = one.password_user("dana", "long enough").await;
    let mut socket = Stomp::connect(&two, &dana.token).await;
    socket.subscribe("n", "/user/queue/notifications").await;
    until_listening(&two, 1).await;
    assert_eq!(
        two.get("/healthz", None).await,
        (
            200,
            serde_json::json!({"status": "ok", "store": "ok", "broker": "ok"})
        ),
        "Redis answers: the broker is up"
    );

    let (status, _) = one
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
        "the socket closes after ERROR"
    );
    assert_eq!(two.get("/api/me", Some(&dana.token)).await.0, 401);
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn typing_and_read_marks_cross_nodes() {
    let (one, two) = two_nodes().await;
    let alice = one.user("alice").await;
    let bob = two.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    one.post_message(&alice, room, "m1").await;
    one.post_message(&alice, room, "m2").await;

    let mut a = Stomp::connect(&one, &alice.token).await;
    a.subscribe("t", &topic(room)).await;
    let mut b_viewing = Stomp::connect(&two, &bob.token).await;
    b_viewing.subscribe("t", &topic(room)).await;
    let mut b_phone = Stomp::connect(&one, &bob.token).await;
    b_phone.subscribe("n", "/user/queue/notifications").await;
    until_listening(&two, 1).await;
    until_listening(&one, 2).await;

    // Alice types on node one; Bob sees it on node two.
    a.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", format!("/app/rooms/{room}/typing"))
            .with_header("receipt", "ty"),
    )
    .await;
    a.until(|f| is_receipt(f, "ty")).await;
    let typing = b_viewing.next().await.expect("typing");
    assert_eq!(body(&typing)["type"], "typing");
    assert_eq!(body(&typing)["user"]["username"], "alice");
    assert_eq!(typing.header("destination"), Some(topic(room).as_str()));

    // Bob reads on node two; his phone on node one hears of it.
    b_viewing
        .send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}/read"))
                .with_header("receipt", "read")
                .with_body(br#"{"seq":2}"#.to_vec()),
        )
        .await;
    b_viewing.until(|f| is_receipt(f, "read")).await;
    let read = b_phone.next().await.expect("read event");
    assert_eq!(
        body(&read),
        serde_json::json!({"type":"read","roomId":room,"seq":2})
    );
    a.close().await;
    b_viewing.close().await;
    b_phone.close().await;
    two.stop().await;
    one.stop().await;
}

/// Node one commits a message and dies before publishing it: the message is in the store and
/// Redis never carried it. Node two's room head check brings it to Bob's topic.
#[tokio::test]
async fn a_message_committed_by_a_node_that_died_before_publishing_still_arrives() {
    let (one, two) = two_nodes_with(|config| config.room_head_check_ms = 50).await;
    let alice = one.user("alice").await;
    let bob = two.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&two, &bob.token).await;
    b.subscribe("d", &topic(room)).await;

    let url = one.database.as_ref().expect("scratch database").url();
    let store = PostgresStore::connect(url).await.expect("store");
    store
        .insert_message(NewMessage {
            room_id: RoomId(room),
            sender: User {
                id: UserId(alice.id),
                username: "alice".into(),
                display_name: "alice".into(),
            },
            text: "committed, then the node died".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
        .await
        .expect("stored");
    store.close().await;

    let frames = b
        .until(|f| carries_text(f, "committed, then the node died"))
        .await;
    assert_eq!(
        topic_messages(&frames),
        vec![(room, 1, "committed, then the node died".into())]
    );
    assert_eq!(two.metric("sotong_room_head_catch_ups_total").await, 1);

    // Live delivery goes on after the catch-up, with the next seq and no duplicate.
    one.post_message(&alice, room, "and after").await;
    let live = b.until(|f| carries_text(f, "and after")).await;
    assert_eq!(topic_messages(&live), vec![(room, 2, "and after".into())]);
    b.close().await;
    two.stop().await;
    one.stop().await;
}

/// A connection that follows its rooms through notifications alone has no room head check to
/// catch up with: once node two's Redis subscription is back after a loss, it hears `resync`,
/// and what node one publishes afterwards reaches it live.
#[tokio::test]
async fn a_notification_only_connection_is_told_to_resync_after_redis_comes_back() {
    let mut admin = redis_admin().await;
    let node_two = RedisUser::create(&mut admin, "node-two").await;
    let two_url = node_two.url(&redis_url());
    let (one, two) =
        two_nodes_reaching_redis_as(Some(two_url), &unique_redis_prefix(), |_| {}).await;

    let alice = one.user("alice").await;
    let bob = two.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&two, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;
    until_listening(&two, 1).await;

    let killed = node_two.kill_connections(&mut admin).await;
    assert!(killed >= 1, "node two's connections were killed");

    let frames = b
        .until(|f| f.command == Command::Message && body(f)["type"] == "resync")
        .await;
    let resync = frames.last().expect("the resync event");
    assert_eq!(
        body(resync),
        serde_json::json!({"type": "resync", "reason": "broker"})
    );
    assert_eq!(
        resync.header("destination"),
        Some("/user/queue/notifications")
    );
    assert_eq!(resync.header("subscription"), Some("n"));
    assert!(two.metric("sotong_redis_reconnects_total").await >= 1);

    // Subscribed again before it said so: what node one publishes now arrives live.
    one.post_message(&alice, room, "after the outage").await;
    let live = b.until(|f| carries_text(f, "after the outage")).await;
    assert_eq!(
        notified_messages(&live),
        vec![(room, 1, "after the outage".into(), 1)]
    );

    b.close().await;
    two.stop().await;
    one.stop().await;
    node_two.delete(&mut admin).await;
}

/// Waits until the heartbeat set of `prefix` holds `nodes` nodes.
async fn until_beating(admin: &mut redis::aio::MultiplexedConnection, prefix: &str, nodes: i64) {
    let key = format!("{prefix}:nodes");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let beating: i64 = redis::cmd("ZCARD")
            .arg(&key)
            .query_async(admin)
            .await
            .expect("ZCARD");
        if beating == nodes {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{beating} nodes in {key}, not {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A node that dies may have committed messages it never published; nothing in Redis says so.
/// Node two stops beating (its Redis user is deleted, so it can neither beat nor reconnect:
/// to the others it is as good as dead), and node one's notification-only connection is told
/// to resync, saying why.
#[tokio::test]
async fn a_node_that_stops_beating_makes_the_others_tell_their_connections_to_resync() {
    let mut admin = redis_admin().await;
    let node_two = RedisUser::create(&mut admin, "node-two").await;
    let two_url = node_two.url(&redis_url());
    let prefix = unique_redis_prefix();
    let (one, two) = two_nodes_reaching_redis_as(Some(two_url), &prefix, |config| {
        config.node_heartbeat_ms = 100;
    })
    .await;
    until_beating(&mut admin, &prefix, 2).await;

    let bob = one.user("bob").await;
    let mut b = Stomp::connect(&one, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;

    node_two.delete(&mut admin).await;

    let frames = b
        .until(|f| f.command == Command::Message && body(f)["type"] == "resync")
        .await;
    let resync = frames.last().expect("the resync event");
    assert_eq!(
        body(resync),
        serde_json::json!({"type": "resync", "reason": "node"})
    );
    assert_eq!(resync.header("subscription"), Some("n"));

    b.close().await;
    two.stop().await;
    one.stop().await;
}

/// A node that stops gracefully has published everything it committed: it takes itself out of
/// the heartbeat set, so that no other node takes it for dead.
#[tokio::test]
async fn a_node_that_stops_gracefully_leaves_the_heartbeat_set() {
    let mut admin = redis_admin().await;
    let prefix = unique_redis_prefix();
    let (one, two) = two_nodes_reaching_redis_as(None, &prefix, |config| {
        config.node_heartbeat_ms = 100;
    })
    .await;
    until_beating(&mut admin, &prefix, 2).await;
    two.stop().await;
    until_beating(&mut admin, &prefix, 1).await;
    one.stop().await;
    until_beating(&mut admin, &prefix, 0).await;
}
