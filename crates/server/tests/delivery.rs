//! The contract's seven delivery rules and `since-seq` recovery, against a real server.

use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

/// The bug sotong exists to make impossible: Alice talks to Bob, looks at a group, comes back
/// to Bob and sends. She sees her message once; Bob's message sent while she was away reached
/// her as a notification (not in the group) and is replayed when she returns.
#[tokio::test]
async fn motivating_scenario_direct_group_and_back() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let direct = server.direct(&alice, &bob).await;
    let group = server.group(&alice, "Team", &[&bob, &carol]).await;

    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("n", "/user/queue/notifications").await;
    a.subscribe("e", "/user/queue/errors").await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;
    b.subscribe("d", &topic(direct)).await;

    // 1. Alice in the direct room.
    a.subscribe("d1", &topic(direct)).await;
    a.send_text(direct, "hi bob", "r1").await;
    let frames = a.until(|f| carries_text(f, "hi bob")).await;
    assert!(
        frames.iter().any(|f| is_receipt(f, "r1"))
            || a.until(|f| is_receipt(f, "r1")).await.len() == 1
    );
    let seen_by_bob = b.until(|f| carries_text(f, "hi bob")).await;
    assert_eq!(
        topic_messages(&seen_by_bob),
        vec![(direct, 1, "hi bob".into())]
    );

    // 2. Over to the group: the direct room's subscription ends.
    let unsub = Frame::new(Command::Unsubscribe)
        .with_header("id", "d1")
        .with_header("receipt", "u1");
    a.send_frame(unsub).await;
    a.until(|f| is_receipt(f, "u1")).await;
    a.subscribe("g1", &topic(group)).await;

    // Bob writes in the direct room while Alice looks at the group.
    b.send_text(direct, "are you there?", "rb").await;
    // Bob's own connection shows his message (rule 2).
    let own = b.until(|f| carries_text(f, "are you there?")).await;
    assert_eq!(
        topic_messages(&own),
        vec![(direct, 2, "are you there?".into())]
    );
    // A marker through the same path: Carol posts in the group, which Alice is viewing.
    server.post_message(&carol, group, "group hello").await;
    let away = a.until(|f| carries_text(f, "group hello")).await;
    assert_eq!(
        notified_messages(&away),
        vec![(direct, 2, "are you there?".into(), 1)],
        "Bob's message reaches Alice once, as a notification"
    );
    assert_eq!(
        topic_messages(&away),
        vec![(group, 1, "group hello".into())],
        "only the group's own message shows in the group"
    );

    // 3. Back to the direct room, resuming after the last seq she holds (1).
    let unsub = Frame::new(Command::Unsubscribe)
        .with_header("id", "g1")
        .with_header("receipt", "u2");
    a.send_frame(unsub).await;
    a.until(|f| is_receipt(f, "u2")).await;
    let replayed = a
        .subscribe_with("d2", &topic(direct), &[("since-seq", "1")])
        .await;
    assert_eq!(
        topic_messages(&replayed),
        vec![(direct, 2, "are you there?".into())]
    );

    // 4. She sends: her own message shows on her screen exactly once, and reaches Bob.
    a.send_text(direct, "back again", "r3").await;
    let mine = a.until(|f| carries_text(f, "back again")).await;
    assert_eq!(
        topic_messages(&mine),
        vec![(direct, 3, "back again".into())]
    );
    // Nothing else about it follows: the next event Alice sees is the next message.
    server.post_message(&bob, direct, "welcome back").await;
    let after = a.until(|f| carries_text(f, "welcome back")).await;
    assert!(
        !after.iter().any(|f| carries_text(f, "back again")),
        "no second copy"
    );
    assert_eq!(
        topic_messages(&after),
        vec![(direct, 4, "welcome back".into())]
    );
    let bob_sees = b.until(|f| carries_text(f, "back again")).await;
    assert_eq!(
        topic_messages(&bob_sees),
        vec![(direct, 3, "back again".into())]
    );
}

/// Rule 1: a RECEIPT comes after the commit and names the stored message.
#[tokio::test]
async fn receipt_follows_commit_and_names_the_message() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    a.send_text(room, "durable", "r1").await;
    let frames = a.until(|f| is_receipt(f, "r1")).await;
    let receipt = frames.last().expect("receipt");
    assert_eq!(receipt.header("seq"), Some("1"));
    let message_id = receipt
        .header("message-id")
        .expect("message-id")
        .to_string();
    // Already readable by anyone the moment the receipt is out.
    let history = server.history(&bob, room, "").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["id"].to_string(), message_id);
    assert_eq!(history[0]["text"], "durable");
}

/// Rules 2 and 3: the sender's connection gets its message on the topic; every connection gets
/// exactly one copy: on the topic if subscribed there, else as a notification.
#[tokio::test]
async fn one_copy_per_connection() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;

    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("n", "/user/queue/notifications").await;
    a.subscribe("t", &topic(room)).await;
    // Bob's phone shows the room; his laptop only has notifications.
    let mut phone = Stomp::connect(&server, &bob.token).await;
    phone.subscribe("n", "/user/queue/notifications").await;
    phone.subscribe("t", &topic(room)).await;
    let mut laptop = Stomp::connect(&server, &bob.token).await;
    laptop.subscribe("n", "/user/queue/notifications").await;

    a.send_text(room, "one", "r1").await;
    a.send_text(room, "two", "r2").await;

    let own = a.until(|f| carries_text(f, "two")).await;
    assert_eq!(
        topic_messages(&own),
        vec![(room, 1, "one".into()), (room, 2, "two".into())]
    );
    assert!(notified_messages(&own).is_empty());

    let on_phone = phone.until(|f| carries_text(f, "two")).await;
    assert_eq!(
        topic_messages(&on_phone),
        vec![(room, 1, "one".into()), (room, 2, "two".into())]
    );
    assert!(notified_messages(&on_phone).is_empty(), "never both");
    let phone_frame = on_phone
        .iter()
        .find(|f| carries_text(f, "one"))
        .expect("frame");
    assert_eq!(phone_frame.header("seq"), Some("1"));
    assert_eq!(phone_frame.header("subscription"), Some("t"));

    let on_laptop = laptop.until(|f| carries_text(f, "two")).await;
    assert_eq!(
        notified_messages(&on_laptop),
        vec![(room, 1, "one".into(), 1), (room, 2, "two".into(), 2)],
        "never neither, with the unread count"
    );
    assert!(topic_messages(&on_laptop).is_empty());
}

/// Rule 4: a retried client-msg-id is stored once, gets the same seq and a receipt.
#[tokio::test]
async fn client_msg_id_is_idempotent() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("t", &topic(room)).await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    for receipt in ["try-1", "try-2"] {
        a.send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("client-msg-id", "c-42")
                .with_header("receipt", receipt)
                .with_body(br#"{"text":"only once"}"#.to_vec()),
        )
        .await;
        let frames = a.until(|f| is_receipt(f, receipt)).await;
        assert_eq!(frames.last().and_then(|f| f.header("seq")), Some("1"));
    }
    // Over HTTP too.
    let (status, again) = server
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&alice.token),
            serde_json::json!({"text": "only once", "clientMsgId": "c-42"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(again["seq"], 1);
    server.post_message(&alice, room, "marker").await;
    let seen = b.until(|f| carries_text(f, "marker")).await;
    assert_eq!(
        topic_messages(&seen),
        vec![(room, 1, "only once".into()), (room, 2, "marker".into())]
    );
    assert_eq!(server.history(&alice, room, "").await.len(), 2);
}

/// Rule 5: a forbidden SUBSCRIBE or SEND is an error event; the connection and its other
/// subscriptions carry on.
#[tokio::test]
async fn forbidden_requests_leave_the_connection_alone() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let room = server.direct(&alice, &bob).await;
    let mut m = Stomp::connect(&server, &mallory.token).await;
    m.subscribe("e", "/user/queue/errors").await;
    let own_room = server.direct(&mallory, &bob).await;
    m.subscribe("mine", &topic(own_room)).await;

    m.send_frame(
        Frame::new(Command::Subscribe)
            .with_header("id", "spy")
            .with_header("destination", topic(room))
            .with_header("receipt", "s1"),
    )
    .await;
    let err = m
        .until(|f| is_error_for(f, "s1"))
        .await
        .pop()
        .expect("error");
    assert_eq!(body(&err)["code"], "forbidden");
    assert_eq!(body(&err)["destination"], topic(room));

    m.send_frame(
        Frame::new(Command::Subscribe)
            .with_header("id", "spy2")
            .with_header("destination", topic(room))
            .with_header("since-seq", "0")
            .with_header("receipt", "s2"),
    )
    .await;
    assert_eq!(
        body(&m.until(|f| is_error_for(f, "s2")).await.pop().expect("e"))["code"],
        "forbidden"
    );

    m.send_text(room, "let me in", "s3").await;
    assert_eq!(
        body(&m.until(|f| is_error_for(f, "s3")).await.pop().expect("e"))["code"],
        "forbidden"
    );

    m.send_text(999_999, "nowhere", "s4").await;
    assert_eq!(
        body(&m.until(|f| is_error_for(f, "s4")).await.pop().expect("e"))["code"],
        "not_found"
    );

    // The same connection still works, with its other subscription.
    server.post_message(&bob, own_room, "still here").await;
    let frames = m.until(|f| carries_text(f, "still here")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![(own_room, 1, "still here".into())]
    );
    assert!(
        server.history(&alice, room, "").await.is_empty(),
        "nothing was stored"
    );
}

/// Rule 6: concurrent senders; every subscriber sees seq 1..N in order, no gaps.
#[tokio::test]
async fn concurrent_senders_are_seen_in_seq_order() {
    let server = TestServer::spawn().await;
    let owner = server.user("owner").await;
    let mut senders = Vec::new();
    for i in 0..4 {
        senders.push(server.user(&format!("sender{i}")).await);
    }
    let refs: Vec<&TestUser> = senders.iter().collect();
    let room = server.group(&owner, "busy", &refs).await;
    let mut watcher = Stomp::connect(&server, &owner.token).await;
    watcher.subscribe("t", &topic(room)).await;

    const EACH: usize = 25;
    let mut tasks = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let token = sender.token.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Stomp::connect_to(addr, &token).await;
            for n in 0..EACH {
                c.send_text(room, &format!("s{i}-{n}"), &format!("r{n}"))
                    .await;
            }
            c.until(|f| is_receipt(f, &format!("r{}", EACH - 1))).await;
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let total = (EACH * senders.len()) as u64;
    let mut seqs = Vec::new();
    while (seqs.len() as u64) < total {
        let frame = watcher.next().await.expect("frame");
        if let Some(seq) = frame.header("seq") {
            seqs.push(seq.parse::<u64>().expect("seq"));
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let history = server.history(&owner, room, "?limit=200").await;
    let stored: Vec<u64> = history
        .iter()
        .map(|m| m["seq"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(stored, (1..=total).collect::<Vec<_>>());
    // On one node, publications leave in commit order: the watcher's session never had to
    // read the store to fill a gap.
    let metrics = server.metrics().await;
    assert!(metrics.contains("sotong_gap_fills_total 0"), "{metrics}");
    assert!(
        metrics.contains(&format!("sotong_messages_stored_total {total}")),
        "{metrics}"
    );
}

/// `since-seq` while messages keep being committed: the replay and the live stream join
/// with no gap and no duplicate.
#[tokio::test]
async fn since_seq_joins_replay_and_live_without_gap_or_duplicate() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for i in 1..=30 {
        server
            .post_message(&alice, room, &format!("before {i}"))
            .await;
    }
    // A writer keeps committing while Bob (re)subscribes several times.
    let addr = server.addr;
    let token = alice.token.clone();
    let writer = tokio::spawn(async move {
        let mut c = Stomp::connect_to(addr, &token).await;
        for i in 1..=120 {
            c.send_text(room, &format!("during {i}"), &format!("w{i}"))
                .await;
        }
        c.until(|f| is_receipt(f, "w120")).await;
    });
    let mut b = Stomp::connect(&server, &bob.token).await;
    let mut held: u64 = 10;
    let mut seen = Vec::new();
    for round in 0..3 {
        let id = format!("t{round}");
        let replay = b
            .subscribe_with(&id, &topic(room), &[("since-seq", &held.to_string())])
            .await;
        let mut got: Vec<u64> = topic_messages(&replay).iter().map(|m| m.1).collect();
        // Take some live ones, then leave.
        for _ in 0..10 {
            let f = b.next().await.expect("frame");
            if let Some(seq) = f.header("seq") {
                got.push(seq.parse().expect("seq"));
            }
        }
        let unsub = Frame::new(Command::Unsubscribe)
            .with_header("id", id.as_str())
            .with_header("receipt", "u");
        b.send_frame(unsub).await;
        let rest = b.until(|f| is_receipt(f, "u")).await;
        got.extend(topic_messages(&rest).iter().map(|m| m.1));
        let expected: Vec<u64> = (held + 1..=held + got.len() as u64).collect();
        assert_eq!(
            got, expected,
            "round {round}: contiguous after since-seq {held}"
        );
        held = *got.last().unwrap_or(&held);
        seen.extend(got);
    }
    writer.await.expect("writer");
    // The final catch-up brings everything else.
    let replay = b
        .subscribe_with("last", &topic(room), &[("since-seq", &held.to_string())])
        .await;
    seen.extend(topic_messages(&replay).iter().map(|m| m.1));
    assert_eq!(seen, (11..=150).collect::<Vec<_>>());
}

/// Rule 7: after a reconnect, GET /api/rooms is the snapshot (latest seq, unread) and
/// since-seq resumes: nothing committed while away is lost, across a server restart too.
#[tokio::test]
async fn reconnect_snapshot_and_resume_across_restart() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("t", &topic(room)).await;
    server.post_message(&alice, room, "first").await;
    let got = b.until(|f| carries_text(f, "first")).await;
    assert_eq!(topic_messages(&got).len(), 1);
    b.close().await;

    server.post_message(&alice, room, "while away 1").await;
    let dir = server.stop().await;
    let server = TestServer::spawn_in(dir, |_| {}).await;
    server.post_message(&alice, room, "while away 2").await;

    let (status, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(status, 200);
    let snapshot = &rooms.as_array().expect("rooms")[0];
    assert_eq!(snapshot["lastMessage"]["seq"], 3);
    assert_eq!(snapshot["unread"], 3);
    let mut b = Stomp::connect(&server, &bob.token).await;
    let replay = b
        .subscribe_with("t", &topic(room), &[("since-seq", "1")])
        .await;
    assert_eq!(
        topic_messages(&replay),
        vec![
            (room, 2, "while away 1".into()),
            (room, 3, "while away 2".into())
        ]
    );
}

/// Read marks: unread counts follow, other devices hear of it, the same device does not.
#[tokio::test]
async fn read_marks_update_unread_and_other_devices() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for i in 1..=3 {
        server.post_message(&alice, room, &format!("m{i}")).await;
    }
    let mut phone = Stomp::connect(&server, &bob.token).await;
    phone.subscribe("n", "/user/queue/notifications").await;
    let mut laptop = Stomp::connect(&server, &bob.token).await;
    laptop.subscribe("n", "/user/queue/notifications").await;

    laptop
        .send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}/read"))
                .with_header("receipt", "read")
                .with_body(br#"{"seq":2}"#.to_vec()),
        )
        .await;
    laptop.until(|f| is_receipt(f, "read")).await;
    let event = phone.next().await.expect("read event");
    assert_eq!(
        body(&event),
        serde_json::json!({"type":"read","roomId":room,"seq":2})
    );
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(rooms[0]["unread"], 1);
    assert_eq!(rooms[0]["lastReadSeq"], 2);

    // Read marks never move backwards and are clamped to the last seq.
    let (status, _) = server
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&bob.token),
            serde_json::json!({"seq": 1}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&bob.token),
            serde_json::json!({"seq": 99}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(rooms[0]["lastReadSeq"], 3);
    assert_eq!(rooms[0]["unread"], 0);
}

/// Typing reaches the room's viewers but not the typist's own connection nor non-viewers.
#[tokio::test]
async fn typing_reaches_viewers_only() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("t", &topic(room)).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("t", &topic(room)).await;
    b.subscribe("n", "/user/queue/notifications").await;
    let mut b_away = Stomp::connect(&server, &bob.token).await;
    b_away.subscribe("n", "/user/queue/notifications").await;

    a.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", format!("/app/rooms/{room}/typing"))
            .with_header("receipt", "ty"),
    )
    .await;
    a.until(|f| is_receipt(f, "ty")).await;
    let typing = b.next().await.expect("typing");
    assert_eq!(body(&typing)["type"], "typing");
    assert_eq!(body(&typing)["user"]["username"], "alice");
    assert_eq!(typing.header("destination"), Some(topic(room).as_str()));

    server.post_message(&alice, room, "marker").await;
    let own = a.until(|f| carries_text(f, "marker")).await;
    assert!(
        own.iter().all(|f| body(f)["type"] != "typing"),
        "the typist does not hear itself"
    );
    let away = b_away.until(|f| carries_text(f, "marker")).await;
    assert!(
        away.iter().all(|f| body(f)["type"] != "typing"),
        "not shown off screen"
    );
}

/// Room events: a new direct room, being added to a group, leaving a group.
#[tokio::test]
async fn room_events_and_leaving() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;
    b.subscribe("e", "/user/queue/errors").await;

    let direct = server.direct(&alice, &bob).await;
    let event = b.next().await.expect("room event");
    assert_eq!(body(&event)["type"], "room");
    assert_eq!(body(&event)["room"]["id"], direct);
    assert_eq!(
        body(&event)["room"]["name"],
        "alice",
        "named after the other member"
    );

    let group = server.group(&alice, "Team", &[&carol]).await;
    let (status, room) = server
        .post(
            &format!("/api/rooms/{group}/members"),
            Some(&alice.token),
            serde_json::json!({"members": ["bob"]}),
        )
        .await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["members"].as_array().map(Vec::len), Some(3));
    let event = b.next().await.expect("added");
    assert_eq!(body(&event)["room"]["id"], group);
    assert_eq!(body(&event)["room"]["name"], "Team");

    b.subscribe("g", &topic(group)).await;
    let (status, _) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{group}/members/me"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let ended = b
        .until(|f| f.header("destination") == Some("/user/queue/errors"))
        .await;
    assert_eq!(body(ended.last().expect("e"))["code"], "forbidden");
    server.post_message(&alice, group, "after bob left").await;
    server.post_message(&alice, direct, "marker").await;
    let rest = b.until(|f| carries_text(f, "marker")).await;
    assert!(
        !rest.iter().any(|f| carries_text(f, "after bob left")),
        "a former member hears nothing"
    );
    let (status, _) = server
        .get(&format!("/api/rooms/{group}/messages"), Some(&bob.token))
        .await;
    assert_eq!(status, 403);
}
