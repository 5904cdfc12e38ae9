//! PostgreSQL unreachable and back, with the server reaching its scratch database through a
//! relay the test cuts ([`TcpGate`]): sends are refused with `unavailable` within seconds and
//! nothing refused is acknowledged or stored, the connection and its other subscriptions live
//! on, and the node serves again by itself once the database is back, each room's `seq`
//! going on without a gap or a duplicate.

use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;
use std::time::{Duration, Instant};

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

/// A SEND of `text` to `room` with a `client-msg-id` and a receipt.
fn send(room: i64, text: &str, client_msg_id: &str, receipt: &str) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", format!("/app/rooms/{room}"))
        .with_header("content-type", "application/json")
        .with_header("client-msg-id", client_msg_id)
        .with_header("receipt", receipt)
        .with_body(json!({ "text": text }).to_string().into_bytes())
}

/// (seq, text) of each message of a history page.
fn seqs_and_texts(messages: &[Value]) -> Vec<(u64, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().expect("seq"),
                m["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

/// Well above the store's wait for a connection (3 s), well below the 10 s and more a sender
/// used to wait: what "refused within seconds" means here.
const REFUSED_WITHIN: Duration = Duration::from_secs(8);

#[tokio::test]
async fn sends_are_refused_while_postgresql_is_unreachable_and_succeed_once_it_is_back() {
    let (server, mut gate) = TestServer::spawn_postgres_behind_gate(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let group = server.group(&bob, "lunch", &[&alice]).await;

    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("e", "/user/queue/errors").await;
    a.subscribe("d", &topic(room)).await;
    a.subscribe("g", &topic(group)).await;
    a.send_frame(send(room, "before", "c-1", "r1")).await;
    let receipt = a.until(|f| is_receipt(f, "r1")).await.pop().expect("r1");
    assert_eq!(receipt.header("seq"), Some("1"));

    gate.cut().await;

    // STOMP: an `unavailable` error event for the receipt, and no receipt, within seconds.
    let started = Instant::now();
    a.send_frame(send(room, "refused", "c-2", "r2")).await;
    let frames = a
        .until(|f| is_receipt(f, "r2") || is_error_for(f, "r2"))
        .await;
    let waited = started.elapsed();
    let answer = frames.last().expect("an answer");
    assert!(
        is_error_for(answer, "r2"),
        "refused, not receipted: {answer:?}"
    );
    let error = body(answer);
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "unavailable", "{error}");
    assert_eq!(
        error["destination"],
        format!("/app/rooms/{room}"),
        "{error}"
    );
    assert!(
        topic_messages(&frames).is_empty(),
        "nothing refused is delivered: {frames:?}"
    );
    assert!(
        waited < REFUSED_WITHIN,
        "the refusal took {waited:?}, more than {REFUSED_WITHIN:?}"
    );

    // HTTP: 503 unavailable, for a post and for the health check.
    let started = Instant::now();
    let (status, refused) = server
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&bob.token),
            json!({"text": "refused too", "clientMsgId": "h-1"}),
        )
        .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "unavailable", "{refused}");
    assert!(
        started.elapsed() < REFUSED_WITHIN,
        "{:?}",
        started.elapsed()
    );
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["store"], "unreachable", "{health}");

    gate.restore().await;

    // The node recovers by itself: the health check turns green without a restart.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, health) = server.get("/healthz", None).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still unhealthy after the database came back: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The connection lived through it, and its other subscriptions still deliver.
    server.post_message(&bob, group, "back at one").await;
    let frames = a.until(|f| carries_text(f, "back at one")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![(group, 1, "back at one".into())]
    );

    // Nothing refused was stored.
    let history = server.history(&alice, room, "").await;
    assert_eq!(seqs_and_texts(&history), [(1, "before".into())]);

    // Sends succeed again; the room's seqs go on without a gap, and the refused message sent
    // again with its client-msg-id is stored once.
    a.send_frame(send(room, "after", "c-3", "r3")).await;
    let receipt = a.until(|f| is_receipt(f, "r3")).await.pop().expect("r3");
    assert_eq!(receipt.header("seq"), Some("2"));
    a.send_frame(send(room, "refused", "c-2", "r4")).await;
    let receipt = a.until(|f| is_receipt(f, "r4")).await.pop().expect("r4");
    assert_eq!(receipt.header("seq"), Some("3"));
    a.send_frame(send(room, "refused", "c-2", "r5")).await;
    let receipt = a.until(|f| is_receipt(f, "r5")).await.pop().expect("r5");
    assert_eq!(receipt.header("seq"), Some("3"), "a retry is stored once");
    let history = server.history(&alice, room, "").await;
    assert_eq!(
        seqs_and_texts(&history),
        [
            (1, "before".into()),
            (2, "after".into()),
            (3, "refused".into())
        ]
    );
}
