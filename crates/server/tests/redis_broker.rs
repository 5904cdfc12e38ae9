//! The Redis broker against a real Redis (`SOTONG_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`): several "nodes" in one process, each a hub with its own broker,
//! and every channel under a prefix of this run's own. Redis not answering fails the test with
//! a message saying how to start it.

use redis::aio::MultiplexedConnection;
use sotong_server::broker::{Broker, Publication, RedisBroker, RedisSettings, UserEvent};
use sotong_server::hub::{Hub, Outbound, Queues, Registration};
use sotong_server::metrics::Metrics;
use sotong_server::model::{Message, MessageId, ResyncReason, RoomId, Seq, User, UserId};
use sotong_testkit::*;
use std::sync::Arc;
use std::time::Duration;

/// How long anything asynchronous may take before the test gives up.
const WAIT: Duration = Duration::from_secs(10);

/// One server node as far as fan-out goes: a hub, its broker and its metrics.
struct Node {
    hub: Arc<Hub>,
    broker: RedisBroker,
    metrics: Arc<Metrics>,
}

impl Node {
    fn start(url: &str, prefix: &str) -> Node {
        let hub = Arc::new(Hub::new());
        let metrics = Arc::new(Metrics::new());
        let settings = RedisSettings {
            channel_prefix: prefix.into(),
            ..RedisSettings::new(url)
        };
        let broker = RedisBroker::start(hub.clone(), &settings, metrics.clone()).expect("broker");
        Node {
            hub,
            broker,
            metrics,
        }
    }

    fn connect(&self, user: i64) -> (Registration, Queues) {
        self.hub.register(UserId(user), 1024, 16).expect("room")
    }
}

fn channel(prefix: &str, user: i64) -> String {
    format!("{prefix}:user:{user}")
}

/// Nodes subscribed to `channel`, as Redis counts them.
async fn subscribers(admin: &mut MultiplexedConnection, channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(admin)
        .await
        .expect("PUBSUB NUMSUB");
    count
}

async fn wait_for_subscribers(admin: &mut MultiplexedConnection, channel: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let count = subscribers(admin, channel).await;
        if count == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{channel} has {count} subscribers, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `done` holds (a metric the broker's tasks update after Redis answered).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn message(seq: u64) -> Message {
    Message {
        id: MessageId(seq as i64),
        room_id: RoomId(7),
        seq: Seq(seq),
        sender: User {
            id: UserId(1),
            username: "alice".into(),
            display_name: "Alice".into(),
        },
        text: format!("message {seq}"),
        sent_at: "2026-01-01T00:00:00.000Z".into(),
        client_msg_id: None,
        edited_at: None,
        deleted_at: None,
        rev: 0,
        reply_to: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// A message to users 1 (unread 0) and 2 (unread `seq`).
fn to_alice_and_bob(seq: u64) -> Publication {
    Publication::Message {
        message: message(seq),
        recipients: vec![(UserId(1), 0), (UserId(2), seq)],
        muted: Vec::new(),
    }
}

async fn next_item(queues: &mut Queues) -> Outbound {
    tokio::time::timeout(WAIT, queues.outbound.recv())
        .await
        .expect("an item in time")
        .expect("the queue is open")
}

/// Whether anything more arrives within a moment (the time Redis needs to pass one on).
async fn nothing_more(queues: &mut Queues) -> bool {
    tokio::time::timeout(Duration::from_millis(300), queues.outbound.recv())
        .await
        .is_err()
}

#[tokio::test]
async fn a_publication_reaches_the_users_connection_on_another_node() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let a = Node::start(&url, &prefix);
    let b = Node::start(&url, &prefix);
    let (_bob, mut bob_queues) = b.connect(2);
    wait_for_subscribers(&mut admin, &channel(&prefix, 2), 1).await;

    a.broker.publish(to_alice_and_bob(1)).await.expect("queued");

    match next_item(&mut bob_queues).await {
        Outbound::Message(m, unread, _) => {
            assert_eq!(m.seq(), Seq(1));
            assert_eq!(unread, 1, "Bob's own unread count");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(nothing_more(&mut bob_queues).await, "one copy");
    assert_eq!(b.metrics.redis_received.get(), 1);
    eventually("A counts its publication", || {
        a.metrics.redis_published.get() == 1
    })
    .await;
    eventually("A's subscription connection is up", || {
        a.metrics.redis_connected.get() == 1
    })
    .await;
}

#[tokio::test]
async fn a_node_without_a_connection_of_the_user_hears_nothing() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let a = Node::start(&url, &prefix);
    let b = Node::start(&url, &prefix);
    let c = Node::start(&url, &prefix);
    // Carol (3) is connected to C only; Bob (2) to B only; nobody holds Alice (1).
    let (_carol, _carol_queues) = c.connect(3);
    let (_bob, mut bob_queues) = b.connect(2);
    wait_for_subscribers(&mut admin, &channel(&prefix, 2), 1).await;
    wait_for_subscribers(&mut admin, &channel(&prefix, 3), 1).await;
    assert_eq!(subscribers(&mut admin, &channel(&prefix, 1)).await, 0);
    eventually("C counts one subscribed user", || {
        c.metrics.redis_subscribed_users.get() == 1
    })
    .await;

    a.broker.publish(to_alice_and_bob(1)).await.expect("queued");
    next_item(&mut bob_queues).await;
    // Whatever reaches B reaches C no later: one more publication through B's channel makes
    // sure C had its chance.
    a.broker.publish(to_alice_and_bob(2)).await.expect("queued");
    next_item(&mut bob_queues).await;
    assert_eq!(b.metrics.redis_received.get(), 2);
    assert_eq!(
        c.metrics.redis_received.get(),
        0,
        "C serves neither Alice nor Bob"
    );
}

#[tokio::test]
async fn publications_keep_their_order() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let a = Node::start(&url, &prefix);
    let b = Node::start(&url, &prefix);
    let (_bob, mut bob_queues) = b.connect(2);
    wait_for_subscribers(&mut admin, &channel(&prefix, 2), 1).await;

    for seq in 1..=300 {
        a.broker
            .publish(to_alice_and_bob(seq))
            .await
            .expect("queued");
    }
    for seq in 1..=300 {
        match next_item(&mut bob_queues).await {
            Outbound::Message(m, _, _) => assert_eq!(m.seq(), Seq(seq)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_node_delivers_its_own_publications_once() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let a = Node::start(&url, &prefix);
    let b = Node::start(&url, &prefix);
    let (_bob_here, mut here) = a.connect(2);
    let (_bob_there, mut there) = b.connect(2);
    wait_for_subscribers(&mut admin, &channel(&prefix, 2), 2).await;

    a.broker.publish(to_alice_and_bob(1)).await.expect("queued");

    assert!(matches!(next_item(&mut here).await, Outbound::Message(..)));
    assert!(matches!(next_item(&mut there).await, Outbound::Message(..)));
    assert!(nothing_more(&mut here).await, "not again through Redis");
    assert!(nothing_more(&mut there).await);
    assert_eq!(a.metrics.redis_received.get(), 0, "its own echo is skipped");
}

#[tokio::test]
async fn the_last_connection_gone_unsubscribes() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let b = Node::start(&url, &prefix);
    let bob = channel(&prefix, 2);
    let first = b.connect(2);
    let second = b.connect(2);
    wait_for_subscribers(&mut admin, &bob, 1).await;

    drop(first);
    // One connection is left: the channel stays (checked after the hub's change was read).
    let (_carol, _queues) = b.connect(3);
    wait_for_subscribers(&mut admin, &channel(&prefix, 3), 1).await;
    assert_eq!(subscribers(&mut admin, &bob).await, 1);

    drop(second);
    wait_for_subscribers(&mut admin, &bob, 0).await;
    eventually("B counts Carol's channel only", || {
        b.metrics.redis_subscribed_users.get() == 1
    })
    .await;
}

#[tokio::test]
async fn a_token_revocation_reaches_the_other_node() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let a = Node::start(&url, &prefix);
    let b = Node::start(&url, &prefix);
    let (_bob, mut bob_queues) = b.connect(2);
    wait_for_subscribers(&mut admin, &channel(&prefix, 2), 1).await;

    a.broker
        .publish(Publication::ToUser {
            user_id: UserId(2),
            event: UserEvent::TokenRevoked {
                token_hash: vec![7; 32],
            },
            except: None,
        })
        .await
        .expect("queued");

    let event = tokio::time::timeout(WAIT, bob_queues.control.recv())
        .await
        .expect("in time")
        .expect("an event");
    assert!(
        matches!(&*event, UserEvent::TokenRevoked { token_hash } if token_hash == &vec![7; 32])
    );
}

/// Kills the broker's connections with `CLIENT KILL USER`: node B talks to Redis as an ACL
/// user of this test's own, so that nothing else is killed.
#[tokio::test]
async fn a_killed_connection_reconnects_and_subscribes_again() {
    let mut admin = redis_admin().await;
    let (url, prefix) = (redis_url(), unique_redis_prefix());
    let node_b = RedisUser::create(&mut admin, "node-b").await;
    let b_url = node_b.url(&url);
    let a = Node::start(&url, &prefix);
    let b = Node::start(&b_url, &prefix);
    let (_bob, mut bob_queues) = b.connect(2);
    let bob = channel(&prefix, 2);
    wait_for_subscribers(&mut admin, &bob, 1).await;

    let killed = node_b.kill_connections(&mut admin).await;
    assert!(killed >= 1, "the subscription connection was killed");

    eventually("B reconnects", || b.metrics.redis_reconnects.get() >= 1).await;
    wait_for_subscribers(&mut admin, &bob, 1).await;
    assert_eq!(b.metrics.redis_connected.get(), 1);
    // Subscribed again: every connection on B is told it may have missed publications.
    assert!(matches!(
        next_item(&mut bob_queues).await,
        Outbound::Resync(ResyncReason::Broker)
    ));

    a.broker.publish(to_alice_and_bob(1)).await.expect("queued");
    match next_item(&mut bob_queues).await {
        Outbound::Message(m, _, _) => assert_eq!(m.seq(), Seq(1)),
        other => panic!("unexpected {other:?}"),
    }

    // B's publishing connection was killed too; it comes back by itself.
    let (_alice, mut alice_queues) = a.connect(1);
    wait_for_subscribers(&mut admin, &channel(&prefix, 1), 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seq = 100;
    loop {
        b.broker
            .publish(to_alice_and_bob(seq))
            .await
            .expect("queued");
        if let Ok(Some(item)) =
            tokio::time::timeout(Duration::from_millis(200), alice_queues.outbound.recv()).await
        {
            assert!(matches!(item, Outbound::Message(..)));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never published again"
        );
        seq += 1;
    }

    node_b.delete(&mut admin).await;
}

/// A whole server on one node with `--redis-url`: it talks to itself through Redis, delivers
/// once, and says so in its metrics.
#[tokio::test]
async fn a_server_with_a_redis_url_serves_its_users() {
    redis_admin().await;
    let prefix = unique_redis_prefix();
    let server = TestServer::spawn_with(|config| {
        config.redis_url = Some(redis_url());
        config.redis_channel_prefix = prefix.clone();
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("d", &format!("/topic/rooms/{room}")).await;

    server.post_message(&alice, room, "through redis").await;

    let frames = b.until(|f| carries_text(f, "through redis")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![(room, 1, "through redis".into())]
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.metric("sotong_redis_published_total").await < 1
        || server.metric("sotong_redis_connected").await < 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            server.metrics().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Its own echo from Redis is not delivered again: next comes the next message.
    server.post_message(&alice, room, "second").await;
    let frames = b.until(|f| carries_text(f, "second")).await;
    assert_eq!(topic_messages(&frames), vec![(room, 2, "second".into())]);
}
