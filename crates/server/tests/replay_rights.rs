//! A `since-seq` replay that a slow reader stretches out must stop giving what a right no
//! longer covers: a member who leaves, or logs out, while her replay is still being written
//! never receives a message committed after that, and the replay ends at once.
//!
//! The reader here has a tiny receive buffer and stops reading after the first frame of the
//! replay, so the server's writes block mid-replay; the room holds far more than the socket
//! buffers on both sides can take, so the replay is still going when the right is taken away.

use serde_json::json;
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

/// Messages in the room before the replay; 3,000 × ~3.9 KB is ~12 MB, three times the most
/// that the kernel buffers a loopback socket's writes (4 MB).
const HISTORY: u64 = 3_000;

async fn fill(server: &TestServer, author: &TestUser, room: i64) {
    let mut stomp = Stomp::connect(server, &author.token).await;
    let filler = "x".repeat(3_900);
    for i in 1..=HISTORY {
        let receipt = format!("fill-{i}");
        stomp
            .send_frame(
                Frame::new(Command::Send)
                    .with_header("destination", format!("/app/rooms/{room}"))
                    .with_header("content-type", "application/json")
                    .with_header("receipt", receipt)
                    .with_body(json!({ "text": filler }).to_string().into_bytes()),
            )
            .await;
    }
    let last = format!("fill-{HISTORY}");
    let frames = stomp.until(|f| is_receipt(f, &last)).await;
    assert!(
        !frames.iter().any(|f| is_error_for(f, &last)),
        "every filler message was stored"
    );
    stomp.close().await;
}

/// Subscribes with `since-seq: 0` and reads until the replay has surely begun (its first
/// message), then stops reading.
async fn start_replay(server: &TestServer, reader: &TestUser, room: i64) -> Stomp {
    let mut stomp = Stomp::connect_with_small_receive_buffer(server, &reader.token).await;
    stomp.subscribe("errors", "/user/queue/errors").await;
    stomp
        .send_frame(
            Frame::new(Command::Subscribe)
                .with_header("id", "room")
                .with_header("destination", format!("/topic/rooms/{room}"))
                .with_header("since-seq", "0")
                .with_header("receipt", "sub-room"),
        )
        .await;
    let first = stomp.next().await.expect("the replay's first message");
    assert_eq!(first.header("seq"), Some("1"), "{first:?}");
    stomp
}

/// Every frame until the socket closes or `done` accepts one; `None` ends it too.
async fn read_to_end(stomp: &mut Stomp, mut done: impl FnMut(&Frame) -> bool) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = stomp.next().await {
        let stop = done(&frame);
        frames.push(frame);
        if stop {
            break;
        }
    }
    frames
}

/// Asserts that nothing in `frames` came from after the right was taken away (no seq past
/// the history, no frame carrying `later`), and that the replay stopped short of its end.
fn assert_cut_short(frames: &[Frame], later: &str) {
    let seqs: Vec<u64> = frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .filter_map(|f| f.header("seq")?.parse().ok())
        .collect();
    assert!(
        seqs.iter().all(|&seq| seq <= HISTORY),
        "a message committed after the right was gone was sent: {:?}",
        seqs.iter().filter(|&&s| s > HISTORY).collect::<Vec<_>>()
    );
    assert!(
        !frames.iter().any(|f| body_text(f).contains(later)),
        "the later message was sent on some route"
    );
    assert!(
        (seqs.len() as u64) < HISTORY - 1,
        "the replay went on to its end ({} messages) instead of stopping",
        seqs.len() + 1
    );
}

#[tokio::test]
async fn leaving_ends_a_replay_and_nothing_after_the_leave_reaches_the_leaver() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "book club", &[&carol]).await;
    fill(&server, &alice, room).await;

    let mut stomp = start_replay(&server, &carol, room).await;
    let (status, answer) = server
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let after = server
        .post_message(&alice, room, "posted after carol left")
        .await;
    assert_eq!(after["seq"], HISTORY + 1);

    // Carol reads again; a DISCONNECT receipt marks the end of what she will ever get.
    stomp
        .send_frame(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let frames = read_to_end(&mut stomp, |f| is_receipt(f, "bye")).await;
    assert_cut_short(&frames, "posted after carol left");
    assert!(
        frames
            .iter()
            .any(|f| f.header("destination") == Some("/user/queue/errors")
                && body(f)["code"] == "forbidden"),
        "the leaver is told that the subscription ended"
    );
}

#[tokio::test]
async fn logging_out_ends_a_replay_at_once_and_nothing_after_it_arrives() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let carol = server.password_user("carol", "correct horse battery").await;
    let room = server.group(&alice, "book club", &[&carol]).await;
    fill(&server, &alice, room).await;

    let mut stomp = start_replay(&server, &carol, room).await;
    let (status, answer) = server
        .request(
            reqwest::Method::POST,
            "/api/logout",
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    server
        .post_message(&alice, room, "posted after carol logged out")
        .await;

    let frames = read_to_end(&mut stomp, |f| f.command == Command::Error).await;
    assert_cut_short(&frames, "posted after carol logged out");
    if let Some(last) = frames.last().filter(|f| f.command == Command::Error) {
        assert_eq!(last.header("message"), Some("unauthorized"), "{last:?}");
    }
}
