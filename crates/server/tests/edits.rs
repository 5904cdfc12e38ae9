//! Editing and deleting messages, over HTTP and STOMP, on SQLite and on PostgreSQL: every rule
//! and its error code, the `changed` events' routing (room topic or notifications, never both),
//! recovery of changes with `since-seq` + `since-rev` and `GET …/changes`, and an edit on one
//! node reaching a subscriber on another.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

on_both_stores!(
    every_rule_has_its_code_over_http,
    every_rule_has_its_code_over_stomp,
    changes_reach_each_connection_once_on_its_route,
    a_client_that_was_away_resumes_with_since_rev_and_gets_the_tombstone_once,
);

async fn edit(
    server: &TestServer,
    user: &TestUser,
    room: i64,
    seq: u64,
    text: &str,
) -> (u16, Value) {
    server
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&user.token),
            Some(json!({ "text": text })),
        )
        .await
}

async fn delete(server: &TestServer, user: &TestUser, room: i64, seq: u64) -> (u16, Value) {
    server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/messages/{seq}"),
            Some(&user.token),
            None,
        )
        .await
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or(""))
}

/// The `changed` events among `frames`, as (destination, seq, rev, change, text).
fn changes(frames: &[Frame]) -> Vec<(String, u64, u64, String, String)> {
    frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .filter(|f| body(f)["type"] == "changed")
        .map(|f| {
            let b = body(f);
            let m = &b["message"];
            (
                f.header("destination").unwrap_or("").to_string(),
                m["seq"].as_u64().unwrap_or(0),
                m["rev"].as_u64().unwrap_or(0),
                b["change"].as_str().unwrap_or("").to_string(),
                m["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn every_rule_has_its_code_over_http(store: StoreBackend) {
    let server = store
        .spawn(|config| config.limits.max_message_chars = 20)
        .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "helo").await;
    server.post_message(&bob, room, "bob's").await;

    let (status, edited) = edit(&server, &alice, room, 1, "hello").await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["text"], "hello");
    assert_eq!(edited["rev"], 1);
    assert!(edited["editedAt"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(edited["deletedAt"], Value::Null);
    let (status, same) = edit(&server, &alice, room, 1, "hello").await;
    assert_eq!(
        (status, &same["rev"]),
        (200, &json!(1)),
        "the same text: no new rev"
    );

    assert_eq!(
        code(&edit(&server, &alice, room, 2, "mine?").await),
        (403, "not_author")
    );
    assert_eq!(
        code(&delete(&server, &alice, room, 2).await),
        (403, "not_author")
    );
    assert_eq!(
        code(&edit(&server, &carol, room, 1, "hi").await),
        (403, "forbidden")
    );
    assert_eq!(
        code(&delete(&server, &carol, room, 1).await),
        (403, "forbidden")
    );
    assert_eq!(
        code(&edit(&server, &alice, room, 3, "hi").await),
        (404, "not_found")
    );
    assert_eq!(
        code(&edit(&server, &alice, room, 1, "  ").await),
        (400, "invalid")
    );
    assert_eq!(
        code(&edit(&server, &alice, room, 1, &"x".repeat(21)).await),
        (413, "too_large")
    );

    let (status, tombstone) = delete(&server, &alice, room, 1).await;
    assert_eq!(status, 200, "{tombstone}");
    assert_eq!(tombstone["text"], "");
    assert_eq!(tombstone["seq"], 1);
    assert_eq!(tombstone["rev"], 2);
    assert_eq!(tombstone["sender"]["username"], "alice");
    assert!(tombstone["deletedAt"].as_str().is_some());
    let (status, again) = delete(&server, &alice, room, 1).await;
    assert_eq!((status, &again["rev"]), (200, &json!(2)), "idempotent");
    assert_eq!(
        code(&edit(&server, &alice, room, 1, "back").await),
        (409, "deleted")
    );

    let history = server.history(&bob, room, "").await;
    assert_eq!(history.len(), 2, "the tombstone keeps its place");
    assert_eq!(history[0]["deletedAt"], tombstone["deletedAt"]);
    let (status, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!((status, &view["lastRev"]), (200, &json!(2)));
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(rooms[0]["lastRev"], 2);

    server.post_message(&bob, room, "more").await;
    for seq in [2, 3] {
        assert_eq!(
            edit(&server, &bob, room, seq, &format!("b{seq}")).await.0,
            200
        );
    }
    let page = |after: u64, limit: u32| {
        let path = format!("/api/rooms/{room}/changes?after={after}&limit={limit}");
        let token = bob.token.clone();
        let server = &server;
        async move { server.get(&path, Some(&token)).await }
    };
    let (status, first) = page(0, 2).await;
    assert_eq!(status, 200);
    let revs = |page: &Value| -> Vec<(u64, u64)> {
        page.as_array()
            .expect("an array")
            .iter()
            .map(|m| {
                (
                    m["seq"].as_u64().unwrap_or(0),
                    m["rev"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(
        revs(&first),
        vec![(1, 2), (2, 3)],
        "ascending by rev, current state"
    );
    let (_, second) = page(3, 2).await;
    assert_eq!(revs(&second), vec![(3, 4)]);
    let (_, none) = page(4, 2).await;
    assert_eq!(revs(&none), vec![]);
    assert_eq!(
        code(
            &server
                .get(&format!("/api/rooms/{room}/changes"), Some(&carol.token))
                .await
        ),
        (403, "forbidden")
    );
}

/// SENDs an edit (`text: Some`) or a delete with a receipt.
async fn send_change(client: &mut Stomp, room: i64, seq: u64, text: Option<&str>, receipt: &str) {
    let frame = match text {
        Some(text) => Frame::new(Command::Send)
            .with_header(
                "destination",
                format!("/app/rooms/{room}/messages/{seq}/edit"),
            )
            .with_header("content-type", "application/json")
            .with_body(json!({ "text": text }).to_string().into_bytes()),
        None => Frame::new(Command::Send).with_header(
            "destination",
            format!("/app/rooms/{room}/messages/{seq}/delete"),
        ),
    };
    client
        .send_frame(frame.with_header("receipt", receipt))
        .await;
}

/// The RECEIPT's `rev` header, or the error event's code, for `receipt`.
async fn outcome(client: &mut Stomp, receipt: &str) -> Result<u64, String> {
    let frames = client
        .until(|f| is_receipt(f, receipt) || is_error_for(f, receipt))
        .await;
    let last = frames.last().expect("a frame");
    if last.command == Command::Receipt {
        assert!(last.header("seq").is_some(), "{last:?}");
        Ok(last
            .header("rev")
            .and_then(|r| r.parse().ok())
            .expect("rev"))
    } else {
        Err(body(last)["code"].as_str().unwrap_or("").to_string())
    }
}

async fn every_rule_has_its_code_over_stomp(store: StoreBackend) {
    let server = store
        .spawn(|config| config.limits.max_message_chars = 20)
        .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "one").await;
    server.post_message(&bob, room, "two").await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("e", "/user/queue/errors").await;
    let mut c = Stomp::connect(&server, &carol.token).await;
    c.subscribe("e", "/user/queue/errors").await;

    send_change(&mut a, room, 1, Some("one!"), "r1").await;
    assert_eq!(outcome(&mut a, "r1").await, Ok(1));
    send_change(&mut a, room, 1, Some("one!"), "r2").await;
    assert_eq!(
        outcome(&mut a, "r2").await,
        Ok(1),
        "the same text: no new rev"
    );
    let cases: [(u64, Option<&str>, &str); 5] = [
        (2, Some("x"), "not_author"),
        (2, None, "not_author"),
        (9, Some("x"), "not_found"),
        (1, Some(" "), "invalid"),
        (1, Some("this text is far too long"), "too_large"),
    ];
    for (i, (seq, text, expected)) in cases.into_iter().enumerate() {
        let receipt = format!("bad{i}");
        send_change(&mut a, room, seq, text, &receipt).await;
        assert_eq!(outcome(&mut a, &receipt).await, Err(expected.to_string()));
    }
    send_change(&mut c, room, 1, None, "c1").await;
    assert_eq!(outcome(&mut c, "c1").await, Err("forbidden".into()));

    send_change(&mut a, room, 1, None, "d1").await;
    assert_eq!(outcome(&mut a, "d1").await, Ok(2));
    send_change(&mut a, room, 1, None, "d2").await;
    assert_eq!(
        outcome(&mut a, "d2").await,
        Ok(2),
        "deleting again: no new rev"
    );
    send_change(&mut a, room, 1, Some("back"), "e1").await;
    assert_eq!(outcome(&mut a, "e1").await, Err("deleted".into()));
    // A plain-text edit body works too.
    a.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", format!("/app/rooms/{room}/messages/1/edit"))
            .with_header("content-type", "text/plain")
            .with_header("receipt", "p1")
            .with_body(b"plain".to_vec()),
    )
    .await;
    assert_eq!(outcome(&mut a, "p1").await, Err("deleted".into()));
}

async fn changes_reach_each_connection_once_on_its_route(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "first").await;

    // Alice's other connection and one of Bob's show the room; the others only follow
    // notifications; one subscribes to both.
    let mut alice_viewing = Stomp::connect(&server, &alice.token).await;
    alice_viewing.subscribe("t", &topic(room)).await;
    let mut alice_elsewhere = Stomp::connect(&server, &alice.token).await;
    alice_elsewhere
        .subscribe("n", "/user/queue/notifications")
        .await;
    let mut bob_viewing = Stomp::connect(&server, &bob.token).await;
    bob_viewing
        .subscribe("n", "/user/queue/notifications")
        .await;
    bob_viewing.subscribe("t", &topic(room)).await;
    let mut bob_elsewhere = Stomp::connect(&server, &bob.token).await;
    bob_elsewhere
        .subscribe("n", "/user/queue/notifications")
        .await;

    assert_eq!(edit(&server, &alice, room, 1, "first!").await.0, 200);
    assert_eq!(delete(&server, &alice, room, 1).await.0, 200);
    // A message after the changes: once it is in, every change before it is too.
    server.post_message(&bob, room, "sentinel").await;
    for (client, route) in [
        (&mut alice_viewing, topic(room)),
        (&mut bob_viewing, topic(room)),
        (
            &mut alice_elsewhere,
            "/user/queue/notifications".to_string(),
        ),
        (&mut bob_elsewhere, "/user/queue/notifications".to_string()),
    ] {
        let frames = client.until(|f| carries_text(f, "sentinel")).await;
        assert_eq!(
            changes(&frames),
            vec![
                (route.clone(), 1, 1, "edited".into(), "first!".into()),
                (route.clone(), 1, 2, "deleted".into(), String::new()),
            ],
            "each change once, on {route}"
        );
        if route.starts_with("/topic/") {
            let revs: Vec<_> = frames
                .iter()
                .filter(|f| body(f)["type"] == "changed")
                .map(|f| f.header("rev").unwrap_or("").to_string())
                .collect();
            assert_eq!(revs, ["1", "2"], "the rev header");
        } else {
            let rooms: Vec<_> = frames
                .iter()
                .filter(|f| body(f)["type"] == "changed")
                .map(|f| body(f)["roomId"].as_i64())
                .collect();
            assert_eq!(rooms, [Some(room), Some(room)]);
        }
    }
}

async fn a_client_that_was_away_resumes_with_since_rev_and_gets_the_tombstone_once(
    store: StoreBackend,
) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for text in ["one", "two", "three"] {
        server.post_message(&alice, room, text).await;
    }
    // Bob holds seqs 1..=3 and rev 0 when he goes away; meanwhile an old message is edited
    // then deleted, and another edited.
    assert_eq!(edit(&server, &alice, room, 1, "one, edited").await.0, 200);
    assert_eq!(delete(&server, &alice, room, 1).await.0, 200);
    assert_eq!(edit(&server, &alice, room, 2, "two, edited").await.0, 200);

    let mut b = Stomp::connect(&server, &bob.token).await;
    let replayed = b
        .subscribe_with("t", &topic(room), &[("since-seq", "3"), ("since-rev", "0")])
        .await;
    assert_eq!(
        changes(&replayed),
        vec![
            (topic(room), 1, 2, "deleted".into(), String::new()),
            (topic(room), 2, 3, "edited".into(), "two, edited".into()),
        ],
        "the current state of each changed message, once, by rev"
    );
    assert!(topic_messages(&replayed).is_empty());

    // Holding only seq 1 and rev 2: the changes of what it holds past rev 2 (none), then the
    // replay of 2 and 3 in their current state.
    let mut b2 = Stomp::connect(&server, &bob.token).await;
    let replayed = b2
        .subscribe_with("t", &topic(room), &[("since-seq", "1"), ("since-rev", "2")])
        .await;
    assert!(changes(&replayed).is_empty(), "{:?}", changes(&replayed));
    assert_eq!(
        topic_messages(&replayed),
        vec![(room, 2, "two, edited".into()), (room, 3, "three".into())]
    );

    // A subscriber that knows nothing of since-rev gets no changed events for the past.
    let mut plain = Stomp::connect(&server, &bob.token).await;
    let replayed = plain
        .subscribe_with("t", &topic(room), &[("since-seq", "0")])
        .await;
    assert!(changes(&replayed).is_empty());
    assert_eq!(
        topic_messages(&replayed),
        vec![
            (room, 1, String::new()),
            (room, 2, "two, edited".into()),
            (room, 3, "three".into())
        ]
    );

    // since-rev needs since-seq.
    let mut lone = Stomp::connect(&server, &bob.token).await;
    lone.subscribe("e", "/user/queue/errors").await;
    lone.send_frame(
        Frame::new(Command::Subscribe)
            .with_header("id", "t")
            .with_header("destination", topic(room))
            .with_header("since-rev", "0")
            .with_header("receipt", "s"),
    )
    .await;
    let frames = lone
        .until(|f| is_error_for(f, "s") || is_receipt(f, "s"))
        .await;
    assert_eq!(body(frames.last().expect("a frame"))["code"], "invalid");
}

#[tokio::test]
async fn the_edit_window_closes_edits_but_not_deletes() {
    let server = TestServer::spawn_with(|config| config.edit_window_secs = Some(0)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let sent = server.post_message(&alice, room, "quick").await;
    // Let the server's clock pass the message's millisecond: a window of 0 s is then behind it.
    let sent_at = sent["sentAt"].as_str().expect("sentAt").to_string();
    loop {
        let probe = server.post_message(&bob, room, "tick").await;
        if probe["sentAt"].as_str() != Some(sent_at.as_str()) {
            break;
        }
    }
    assert_eq!(
        code(&edit(&server, &alice, room, 1, "too late").await),
        (403, "edit_window_closed")
    );
    let (status, tombstone) = delete(&server, &alice, room, 1).await;
    assert_eq!((status, &tombstone["text"]), (200, &json!("")));
}

#[tokio::test]
async fn edits_and_deletes_share_the_send_budget() {
    let server = TestServer::spawn_with(|config| {
        config.limits.send_rate_per_sec = 1;
        config.limits.send_burst = 3;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    server.post_message(&alice, room, "one").await;
    assert_eq!(edit(&server, &alice, room, 1, "two").await.0, 200);
    assert_eq!(delete(&server, &alice, room, 1).await.0, 200);
    assert_eq!(
        code(&edit(&server, &alice, room, 1, "four").await),
        (429, "rate_limited")
    );
}

#[tokio::test]
async fn an_edit_on_one_node_reaches_a_subscriber_on_the_other() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    one.post_message(&alice, room, "hello").await;
    let mut on_two = Stomp::connect(&two, &bob.token).await;
    on_two.subscribe("t", &topic(room)).await;
    let mut notified_on_two = Stomp::connect(&two, &bob.token).await;
    notified_on_two
        .subscribe("n", "/user/queue/notifications")
        .await;

    assert_eq!(edit(&one, &alice, room, 1, "hello, edited").await.0, 200);
    let frames = on_two.until(|f| body(f)["type"] == "changed").await;
    assert_eq!(
        changes(&frames),
        vec![(topic(room), 1, 1, "edited".into(), "hello, edited".into())]
    );
    let frames = notified_on_two
        .until(|f| body(f)["type"] == "changed")
        .await;
    assert_eq!(
        changes(&frames),
        vec![(
            "/user/queue/notifications".into(),
            1,
            1,
            "edited".into(),
            "hello, edited".into()
        )]
    );
}
