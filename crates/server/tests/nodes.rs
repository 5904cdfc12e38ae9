//! Two server nodes as a deployment runs them: one PostgreSQL database (a scratch one of the
//! test's own) and one Redis (`SOTONG_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`, with
//! channels under a prefix of this run's own). A message stored on one node reaches a member
//! connected to the other, live, with the room's next `seq`, and a client that moves to the
//! other node resumes there with `since-seq`.

use sotong_testkit::*;
use std::time::Duration;

fn redis_url() -> String {
    std::env::var("SOTONG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Fails the test, saying how to start one, when Redis does not answer.
async fn require_redis(url: &str) {
    let unreachable = |err: String| -> ! {
        panic!(
            "Redis is not reachable at {url} ({err}). This test needs a Redis server: start one \
             (`redis-server --daemonize yes`, or `docker run -p 6379:6379 redis`) or point \
             SOTONG_TEST_REDIS_URL at one"
        )
    };
    let client = redis::Client::open(url).unwrap_or_else(|e| unreachable(e.to_string()));
    let connecting = client.get_multiplexed_async_connection();
    match tokio::time::timeout(Duration::from_secs(5), connecting).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => unreachable(err.to_string()),
        Err(_) => unreachable("no answer within 5 s".into()),
    }
}

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

#[tokio::test]
async fn a_message_stored_on_one_node_reaches_a_member_on_the_other() {
    let redis = redis_url();
    require_redis(&redis).await;
    let prefix = format!(
        "sotong-test-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    );
    let on_both = |config: &mut sotong_server::Config| {
        config.redis_url = Some(redis.clone());
        config.redis_channel_prefix = prefix.clone();
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
    })
    .await;

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
