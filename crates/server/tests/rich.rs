//! Replies, reactions and mentions, over HTTP and STOMP, on SQLite and on PostgreSQL: every
//! rule of the contract's tables and its code, previews that follow the answered message,
//! reactions as `changed` events (routed like messages, recovered with `since-rev`, across
//! nodes), and mentions (the notification's flag, `unreadMentions`, re-found on edit).

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

const NOTIFICATIONS: &str = "/user/queue/notifications";
const THUMBS_UP: &str = "👍";

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

on_both_stores!(
    replies_carry_a_preview_of_the_answered_message_as_it_is_now,
    every_reply_rule_has_its_code_over_http_and_stomp,
    reactions_are_counted_in_first_use_order_and_retries_take_no_rev,
    every_reaction_rule_has_its_code_over_http_and_stomp,
    reactions_reach_each_connection_once_on_its_route_and_are_recovered,
    mentions_flag_the_notification_and_count_until_read,
    mention_rules_and_edits,
    a_member_who_left_can_neither_react_nor_reply,
);

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or(""))
}

/// Percent-encodes every byte that is not an ASCII letter or digit, as a client puts an emoji
/// in a path.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn post(server: &TestServer, user: &TestUser, room: i64, body: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&user.token),
            body,
        )
        .await
}

async fn react(
    server: &TestServer,
    user: &TestUser,
    room: i64,
    seq: u64,
    emoji: &str,
    add: bool,
) -> (u16, Value) {
    let method = if add { Method::PUT } else { Method::DELETE };
    server
        .request(
            method,
            &format!(
                "/api/rooms/{room}/messages/{seq}/reactions/{}",
                percent(emoji)
            ),
            Some(&user.token),
            None,
        )
        .await
}

/// A message's reactions as (emoji, user ids).
fn reactions(message: &Value) -> Vec<(String, Vec<i64>)> {
    message["reactions"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|r| {
                    let users: Vec<i64> = r["userIds"]
                        .as_array()
                        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default();
                    assert_eq!(r["count"].as_u64(), Some(users.len() as u64), "{r}");
                    (r["emoji"].as_str().unwrap_or("").to_string(), users)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// SENDs a reaction with a receipt.
async fn send_reaction(
    client: &mut Stomp,
    room: i64,
    seq: u64,
    emoji: &str,
    add: bool,
    receipt: &str,
) {
    client
        .send_frame(
            Frame::new(Command::Send)
                .with_header(
                    "destination",
                    format!("/app/rooms/{room}/messages/{seq}/react"),
                )
                .with_header("content-type", "application/json")
                .with_header("receipt", receipt)
                .with_body(
                    json!({ "emoji": emoji, "add": add })
                        .to_string()
                        .into_bytes(),
                ),
        )
        .await;
}

/// The RECEIPT's `rev` (or `seq` when it has no `rev`), or the error event's code.
async fn outcome(client: &mut Stomp, receipt: &str) -> Result<u64, String> {
    let frames = client
        .until(|f| is_receipt(f, receipt) || is_error_for(f, receipt))
        .await;
    let last = frames.last().expect("a frame");
    if last.command == Command::Receipt {
        let number = last.header("rev").or_else(|| last.header("seq"));
        Ok(number.and_then(|n| n.parse().ok()).expect("rev or seq"))
    } else {
        Err(body(last)["code"].as_str().unwrap_or("").to_string())
    }
}

/// The `changed` events among `frames`, as (destination, seq, rev, change).
fn changes(frames: &[Frame]) -> Vec<(String, u64, u64, String)> {
    frames
        .iter()
        .filter(|f| f.command == Command::Message && body(f)["type"] == "changed")
        .map(|f| {
            let b = body(f);
            (
                f.header("destination").unwrap_or("").to_string(),
                b["message"]["seq"].as_u64().unwrap_or(0),
                b["message"]["rev"].as_u64().unwrap_or(0),
                b["change"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn replies_carry_a_preview_of_the_answered_message_as_it_is_now(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    let long = "x".repeat(250);
    server.post_message(&alice, room, &long).await;
    server.post_message(&alice, room, "lunch?").await;
    let mut watching = Stomp::connect(&server, &bob.token).await;
    watching.subscribe("t", &topic(room)).await;

    let (status, reply) = post(&server, &bob, room, json!({"text": "yes", "replyTo": 2})).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["replyTo"]["seq"], 2);
    assert_eq!(reply["replyTo"]["text"], "lunch?");
    assert_eq!(reply["replyTo"]["sender"]["username"], "alice");
    assert_eq!(reply["replyTo"]["deletedAt"], Value::Null);
    assert!(
        reply["replyTo"].get("attachments").is_none(),
        "0 is left out"
    );
    let live = watching.until(|f| carries_text(f, "yes")).await;
    let event = body(live.last().expect("the reply"));
    assert_eq!(
        event["message"]["replyTo"], reply["replyTo"],
        "the live event"
    );

    let (status, cut) = post(
        &server,
        &bob,
        room,
        json!({"text": "so long", "replyTo": {"roomId": room, "seq": 1}}),
    )
    .await;
    assert_eq!(status, 201, "{cut}");
    assert_eq!(
        cut["replyTo"]["text"],
        "x".repeat(200),
        "cut to 200 characters"
    );

    // Over STOMP with the header of a plain-text SEND.
    let mut sender = Stomp::connect(&server, &alice.token).await;
    sender
        .send_frame(
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("content-type", "text/plain")
                .with_header("reply-to", "3")
                .with_header("receipt", "p")
                .with_body(b"plain reply".to_vec()),
        )
        .await;
    assert_eq!(outcome(&mut sender, "p").await, Ok(5));

    // History shows the answered message as it is now: edited, then deleted.
    server.edit_message(&alice, room, 2, "lunch at 12?").await;
    let history = server.history(&alice, room, "").await;
    assert_eq!(history[2]["replyTo"]["text"], "lunch at 12?");
    assert!(history[2]["replyTo"]["editedAt"].is_string());
    assert_eq!(history[4]["replyTo"]["seq"], 3);
    assert_eq!(history[4]["replyTo"]["text"], "yes");
    assert!(
        history[0].get("replyTo").is_none(),
        "plain messages unchanged"
    );
    server.delete_message(&alice, room, 2).await;
    let history = server.history(&bob, room, "?after=2").await;
    assert_eq!(history[0]["replyTo"]["text"], "");
    assert!(history[0]["replyTo"]["deletedAt"].is_string());

    // A since-seq replay carries the same previews.
    let mut resumed = Stomp::connect(&server, &bob.token).await;
    let replayed = resumed
        .subscribe_with("t", &topic(room), &[("since-seq", "2")])
        .await;
    let previews: Vec<Value> = replayed
        .iter()
        .filter(|f| body(f)["type"] == "message")
        .map(|f| body(f)["message"]["replyTo"]["seq"].clone())
        .collect();
    assert_eq!(previews, [json!(2), json!(1), json!(3)]);
}

async fn every_reply_rule_has_its_code_over_http_and_stomp(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    let elsewhere = server.direct(&alice, &carol).await;
    server.post_message(&alice, room, "one").await;
    server.post_message(&alice, room, "two").await;
    server.post_message(&alice, elsewhere, "other room").await;
    server.delete_message(&alice, room, 2).await;

    let cases = [
        (
            json!({"roomId": elsewhere, "seq": 1}),
            (400, "reply_other_room"),
        ),
        (json!(99), (404, "reply_not_found")),
        (json!(2), (409, "deleted")),
        (json!(0), (400, "invalid")),
        (json!(-1), (400, "invalid")),
        (json!("1"), (400, "invalid")),
        (json!(1.5), (400, "invalid")),
        (json!({"seq": 1}), (400, "invalid")),
    ];
    for (reply_to, expected) in &cases {
        let answer = post(
            &server,
            &bob,
            room,
            json!({"text": "re", "replyTo": reply_to}),
        )
        .await;
        assert_eq!(code(&answer), *expected, "replyTo {reply_to}");
    }
    assert_eq!(
        code(&post(&server, &carol, room, json!({"text": "re", "replyTo": 1})).await),
        (403, "forbidden")
    );
    let history = server.history(&alice, room, "").await;
    assert_eq!(history.len(), 2, "nothing stored for a refused reply");

    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("e", "/user/queue/errors").await;
    for (i, (reply_to, (_, expected))) in cases.iter().enumerate() {
        let receipt = format!("r{i}");
        b.send_json(room, json!({"text": "re", "replyTo": reply_to}), &receipt)
            .await;
        assert_eq!(outcome(&mut b, &receipt).await, Err(expected.to_string()));
    }
    b.send_json(room, json!({"text": "re", "replyTo": 1}), "ok")
        .await;
    assert_eq!(outcome(&mut b, "ok").await, Ok(3), "stored as seq 3");
}

async fn reactions_are_counted_in_first_use_order_and_retries_take_no_rev(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob, &carol]).await;
    server.post_message(&alice, room, "lunch?").await;

    let (status, first) = react(&server, &bob, room, 1, THUMBS_UP, true).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["rev"], 1);
    assert_eq!(first["editedAt"], Value::Null, "a reaction is no edit");
    react(&server, &carol, room, 1, "🎉", true).await;
    let (_, third) = react(&server, &carol, room, 1, THUMBS_UP, true).await;
    assert_eq!(third["rev"], 3);
    assert_eq!(
        reactions(&third),
        [
            (THUMBS_UP.to_string(), vec![bob.id, carol.id]),
            ("🎉".to_string(), vec![carol.id])
        ]
    );
    let (status, again) = react(&server, &bob, room, 1, THUMBS_UP, true).await;
    assert_eq!(
        (status, &again["rev"]),
        (200, &json!(3)),
        "adding twice: no rev"
    );
    let (status, absent) = react(&server, &alice, room, 1, "🎉", false).await;
    assert_eq!(
        (status, &absent["rev"]),
        (200, &json!(3)),
        "nothing to take back"
    );

    // Over STOMP, with the receipt's rev.
    let mut a = Stomp::connect(&server, &alice.token).await;
    send_reaction(&mut a, room, 1, "🎉", true, "a1").await;
    assert_eq!(outcome(&mut a, "a1").await, Ok(4));
    send_reaction(&mut a, room, 1, "🎉", true, "a2").await;
    assert_eq!(outcome(&mut a, "a2").await, Ok(4), "a retry takes no rev");
    let (_, taken_back) = react(&server, &carol, room, 1, "🎉", false).await;
    assert_eq!(taken_back["rev"], 5);
    assert_eq!(
        reactions(&taken_back),
        [
            (THUMBS_UP.to_string(), vec![bob.id, carol.id]),
            ("🎉".to_string(), vec![alice.id])
        ]
    );

    // History and the room's last message carry them; a room's lastRev counts them.
    let history = server.history(&bob, room, "").await;
    assert_eq!(reactions(&history[0]), reactions(&taken_back));
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!(view["lastRev"], 5);
    assert_eq!(reactions(&view["lastMessage"]), reactions(&taken_back));

    // Deleting the message removes them.
    let tombstone = server.delete_message(&alice, room, 1).await;
    assert!(tombstone.get("reactions").is_none(), "{tombstone}");
    let history = server.history(&bob, room, "").await;
    assert!(history[0].get("reactions").is_none());
}

async fn every_reaction_rule_has_its_code_over_http_and_stomp(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "one").await;
    server.post_message(&alice, room, "two").await;
    server.delete_message(&alice, room, 2).await;

    // 68 bytes: over the limit, and short enough for a URL.
    let long = THUMBS_UP.repeat(17);
    let cases: [(&TestUser, u64, &str, (u16, &str)); 8] = [
        (&carol, 1, THUMBS_UP, (403, "forbidden")),
        (&bob, 9, THUMBS_UP, (404, "not_found")),
        (&bob, 2, THUMBS_UP, (409, "deleted")),
        (&bob, 1, &long, (413, "too_large")),
        (&bob, 1, "a", (400, "invalid_emoji")),
        (&bob, 1, "👍 👍", (400, "invalid_emoji")),
        (&bob, 1, "1", (400, "invalid_emoji")),
        (&bob, 1, "\u{7}", (400, "invalid_emoji")),
    ];
    for (user, seq, emoji, expected) in &cases {
        let answer = react(&server, user, room, *seq, emoji, true).await;
        assert_eq!(code(&answer), *expected, "{emoji:?} on {seq}");
    }
    assert_eq!(
        code(&react(&server, &bob, 4242, 1, THUMBS_UP, true).await),
        (404, "not_found")
    );

    // Twenty distinct emoji, then a 21st is refused; one already there is still accepted.
    let emoji: Vec<String> = (0..21)
        .map(|i| char::from_u32(0x1F600 + i).expect("emoji").to_string())
        .collect();
    for e in &emoji[..20] {
        assert_eq!(react(&server, &bob, room, 1, e, true).await.0, 200);
    }
    assert_eq!(
        code(&react(&server, &bob, room, 1, &emoji[20], true).await),
        (413, "too_large")
    );
    assert_eq!(
        react(&server, &alice, room, 1, &emoji[0], true).await.0,
        200
    );

    let mut c = Stomp::connect(&server, &carol.token).await;
    c.subscribe("e", "/user/queue/errors").await;
    send_reaction(&mut c, room, 1, THUMBS_UP, true, "c1").await;
    assert_eq!(outcome(&mut c, "c1").await, Err("forbidden".into()));
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("e", "/user/queue/errors").await;
    for (i, (_, seq, emoji, (_, expected))) in cases.iter().enumerate().skip(1) {
        let receipt = format!("b{i}");
        send_reaction(&mut b, room, *seq, emoji, true, &receipt).await;
        assert_eq!(outcome(&mut b, &receipt).await, Err(expected.to_string()));
    }
    send_reaction(&mut b, room, 1, &THUMBS_UP.repeat(10_000), true, "huge").await;
    assert_eq!(outcome(&mut b, "huge").await, Err("too_large".into()));
    send_reaction(&mut b, room, 1, &emoji[20], true, "b21").await;
    assert_eq!(outcome(&mut b, "b21").await, Err("too_large".into()));
    b.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", format!("/app/rooms/{room}/messages/1/react"))
            .with_header("receipt", "bad-body")
            .with_body(b"{\"emoji\":1}".to_vec()),
    )
    .await;
    assert_eq!(outcome(&mut b, "bad-body").await, Err("invalid".into()));
}

async fn reactions_reach_each_connection_once_on_its_route_and_are_recovered(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "first").await;

    let mut alice_viewing = Stomp::connect(&server, &alice.token).await;
    alice_viewing.subscribe("t", &topic(room)).await;
    let mut bob_viewing = Stomp::connect(&server, &bob.token).await;
    bob_viewing.subscribe("n", NOTIFICATIONS).await;
    bob_viewing.subscribe("t", &topic(room)).await;
    let mut bob_elsewhere = Stomp::connect(&server, &bob.token).await;
    bob_elsewhere.subscribe("n", NOTIFICATIONS).await;

    assert_eq!(react(&server, &bob, room, 1, THUMBS_UP, true).await.0, 200);
    server.post_message(&bob, room, "sentinel").await;
    for (client, route) in [
        (&mut alice_viewing, topic(room)),
        (&mut bob_viewing, topic(room)),
        (&mut bob_elsewhere, NOTIFICATIONS.to_string()),
    ] {
        let frames = client.until(|f| carries_text(f, "sentinel")).await;
        assert_eq!(
            changes(&frames),
            vec![(route.clone(), 1, 1, "reacted".into())],
            "once, on {route}"
        );
        let event = frames
            .iter()
            .find(|f| body(f)["type"] == "changed")
            .expect("the change");
        assert_eq!(
            reactions(&body(event)["message"]),
            [(THUMBS_UP.to_string(), vec![bob.id])]
        );
        if route.starts_with("/topic/") {
            assert_eq!(event.header("rev"), Some("1"));
        } else {
            assert_eq!(body(event)["roomId"], room);
        }
    }

    // A client holding seq 1 at rev 0 resumes and gets the reaction as a change.
    assert_eq!(react(&server, &alice, room, 1, "🎉", true).await.0, 200);
    let mut resumed = Stomp::connect(&server, &bob.token).await;
    let replayed = resumed
        .subscribe_with("t", &topic(room), &[("since-seq", "1"), ("since-rev", "0")])
        .await;
    assert_eq!(
        changes(&replayed),
        vec![(topic(room), 1, 2, "reacted".into())],
        "the current state, once"
    );
    let (status, changed) = server
        .get(
            &format!("/api/rooms/{room}/changes?after=1"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(changed[0]["rev"], 2);
    assert_eq!(
        reactions(&changed[0]),
        [
            (THUMBS_UP.to_string(), vec![bob.id]),
            ("🎉".to_string(), vec![alice.id])
        ]
    );
}

async fn mentions_flag_the_notification_and_count_until_read(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob, &carol]).await;
    let mut bob_notified = Stomp::connect(&server, &bob.token).await;
    bob_notified.subscribe("n", NOTIFICATIONS).await;
    let mut carol_notified = Stomp::connect(&server, &carol.token).await;
    carol_notified.subscribe("n", NOTIFICATIONS).await;
    let mut bob_viewing = Stomp::connect(&server, &bob.token).await;
    bob_viewing.subscribe("t", &topic(room)).await;

    let text = "yes, @Bob, see the plan @nobody @alice";
    let sent = server.post_message(&alice, room, text).await;
    assert_eq!(
        sent["mentions"],
        json!([bob.id]),
        "self and unknown names are not mentions"
    );
    let frames = bob_notified.until(|f| carries_text(f, text)).await;
    let note = body(frames.last().expect("notification"));
    assert_eq!(note["mention"], true);
    assert_eq!(note["unread"], 1);
    let frames = carol_notified.until(|f| carries_text(f, text)).await;
    assert!(body(frames.last().expect("notification"))
        .get("mention")
        .is_none());
    // The room topic carries the message (with its mentions) and no notification flag.
    let frames = bob_viewing.until(|f| carries_text(f, text)).await;
    let event = body(frames.last().expect("event"));
    assert_eq!(event["message"]["mentions"], json!([bob.id]));
    assert!(event.get("mention").is_none());

    server.post_message(&carol, room, "@bob again").await;
    server.post_message(&carol, room, "no mention").await;
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(rooms[0]["unreadMentions"], 2);
    assert_eq!(rooms[0]["unread"], 3);
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&carol.token))
        .await;
    assert_eq!(view["unreadMentions"], 0);

    // A tombstone does not count; a read mark clears what it covers.
    server.delete_message(&carol, room, 2).await;
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!(view["unreadMentions"], 1);
    let (status, _) = server
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&bob.token),
            json!({"seq": 1}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!(view["unreadMentions"], 0);
}

async fn mention_rules_and_edits(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    server.user("dave").await;
    let room = server.group(&alice, "team", &[&bob, &carol]).await;

    let refused = post(&server, &alice, room, json!({"text": "hi @dave"})).await;
    assert_eq!(code(&refused), (400, "mention_not_member"));
    assert!(refused.1["message"].as_str().unwrap_or("").contains("dave"));
    assert!(
        server.history(&alice, room, "").await.is_empty(),
        "nothing stored"
    );
    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("e", "/user/queue/errors").await;
    a.send_json(room, json!({"text": "hi @dave"}), "m1").await;
    assert_eq!(
        outcome(&mut a, "m1").await,
        Err("mention_not_member".into())
    );

    let sent = server
        .post_message(&alice, room, "mail me@example.com, @bob.")
        .await;
    assert_eq!(sent["mentions"], json!([bob.id]));
    let edited = server.edit_message(&alice, room, 1, "now @carol").await;
    assert_eq!(edited["mentions"], json!([carol.id]), "found again on edit");
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!(view["unreadMentions"], 0);
    let (_, view) = server
        .get(&format!("/api/rooms/{room}"), Some(&carol.token))
        .await;
    assert_eq!(view["unreadMentions"], 1);
    let history = server.history(&bob, room, "").await;
    assert_eq!(history[0]["mentions"], json!([carol.id]));
    let plain = server.post_message(&alice, room, "nobody here").await;
    assert!(plain.get("mentions").is_none(), "{plain}");
}

#[tokio::test]
async fn reactions_share_the_send_budget() {
    let server = TestServer::spawn_with(|config| {
        config.limits.send_rate_per_sec = 1;
        config.limits.send_burst = 3;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    server.post_message(&alice, room, "one").await;
    assert_eq!(
        react(&server, &alice, room, 1, THUMBS_UP, true).await.0,
        200
    );
    assert_eq!(
        react(&server, &alice, room, 1, THUMBS_UP, false).await.0,
        200
    );
    assert_eq!(
        code(&react(&server, &alice, room, 1, THUMBS_UP, true).await),
        (429, "rate_limited")
    );
}

#[tokio::test]
async fn a_reaction_on_one_node_reaches_a_subscriber_on_the_other() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    one.post_message(&alice, room, "hello").await;
    let mut on_two = Stomp::connect(&two, &bob.token).await;
    on_two.subscribe("t", &topic(room)).await;
    let mut notified_on_two = Stomp::connect(&two, &alice.token).await;
    notified_on_two.subscribe("n", NOTIFICATIONS).await;

    assert_eq!(react(&one, &bob, room, 1, THUMBS_UP, true).await.0, 200);
    let frames = on_two.until(|f| body(f)["type"] == "changed").await;
    assert_eq!(
        changes(&frames),
        vec![(topic(room), 1, 1, "reacted".into())]
    );
    let frames = notified_on_two
        .until(|f| body(f)["type"] == "changed")
        .await;
    assert_eq!(
        changes(&frames),
        vec![(NOTIFICATIONS.into(), 1, 1, "reacted".into())]
    );
    assert_eq!(
        reactions(&body(frames.last().expect("change"))["message"]),
        [(THUMBS_UP.to_string(), vec![bob.id])]
    );
}

async fn a_member_who_left_can_neither_react_nor_reply(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    server.post_message(&alice, room, "before you go").await;
    assert_eq!(react(&server, &bob, room, 1, "👍", true).await.0, 200);
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 204);

    assert_eq!(
        code(&react(&server, &bob, room, 1, "🎉", true).await),
        (403, "forbidden")
    );
    assert_eq!(
        code(&react(&server, &bob, room, 1, "👍", false).await),
        (403, "forbidden"),
        "nor take one back"
    );
    let reply = server
        .request(
            Method::POST,
            &format!("/api/rooms/{room}/messages"),
            Some(&bob.token),
            Some(json!({"text": "late", "replyTo": 1})),
        )
        .await;
    assert_eq!(code(&reply), (403, "forbidden"));
    let page = server.history(&alice, room, "").await;
    assert_eq!(page.len(), 1, "nothing stored");
    assert_eq!(
        page[0]["reactions"][0]["count"], 1,
        "bob's earlier reaction stays"
    );
    assert_eq!(page[0]["rev"], 1, "no change took a rev");
}
