//! What stock STOMP clients (`@stomp/stompjs`, `stomp.py`) do and must get: STOMP 1.0 sessions,
//! several subscriptions to one destination, client ack modes, version and subprotocol
//! negotiation, oversized WebSocket messages, and the order of a SEND's own copy and RECEIPT.

use sotong_stomp::{Command, Frame, Version};
use sotong_testkit::*;
use std::time::Duration;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A STOMP 1.0 CONNECT (no `accept-version`), asking for heart-beats as stompjs does anyway.
async fn connect_1_0(server: &TestServer, token: &str) -> Stomp {
    let mut client = Stomp::open(server).await;
    let connected = client
        .request(
            Frame::new(Command::Connect)
                .with_header("login", "x")
                .with_header("passcode", token)
                .with_header("heart-beat", "100,100"),
        )
        .await;
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    assert_eq!(connected.header("version"), Some("1.0"));
    assert_eq!(
        connected.header("heart-beat"),
        None,
        "1.0 has no heart-beats, so CONNECTED offers none"
    );
    client.speak(Version::V1_0);
    client
}

fn subscribe_frame(destination: &str, receipt: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .with_header("destination", destination)
        .with_header("receipt", receipt)
}

#[tokio::test]
async fn a_silent_1_0_session_is_not_cut_off_for_heart_beats() {
    // The server wants a beat every 100 ms from clients that can beat (1.1 and 1.2).
    let server = TestServer::spawn_with(|c| {
        c.limits.heartbeat_min_ms = 50;
        c.limits.heartbeat_want_ms = 100;
    })
    .await;
    let alice = server.user("alice").await;
    let mut client = connect_1_0(&server, &alice.token).await;
    // Ten times the silence a 1.2 client would be allowed (twice the interval).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let reply = client
        .request(subscribe_frame(NOTIFICATIONS_DEST, "r-1"))
        .await;
    assert!(is_receipt(&reply, "r-1"), "still connected: {reply:?}");
    assert_eq!(client.heartbeats, 0, "the server sends no beats to 1.0");
}

const NOTIFICATIONS_DEST: &str = "/user/queue/notifications";

/// Each frame's `subscription` and `seq` headers, in order.
fn subscriptions_and_seqs(frames: &[Frame]) -> Vec<(Option<&str>, Option<&str>)> {
    frames
        .iter()
        .map(|f| (f.header("subscription"), f.header("seq")))
        .collect()
}

#[tokio::test]
async fn stomp_1_0_subscribes_without_id_and_unsubscribes_by_destination() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let topic = format!("/topic/rooms/{room}");
    let mut client = connect_1_0(&server, &alice.token).await;

    for (destination, receipt) in [(NOTIFICATIONS_DEST, "r-n"), (topic.as_str(), "r-t")] {
        let reply = client.request(subscribe_frame(destination, receipt)).await;
        assert!(
            is_receipt(&reply, receipt),
            "{reply:?} {}",
            body_text(&reply)
        );
    }
    // A second id-less subscription to the same destination cannot be told apart: refused,
    // and the connection carries on.
    client.subscribe("e", "/user/queue/errors").await;
    let refused = client.request(subscribe_frame(&topic, "r-again")).await;
    assert!(is_error_for(&refused, "r-again"), "{refused:?}");

    server.post_message(&bob, room, "on the topic").await;
    let frame = client.next().await.expect("a MESSAGE");
    assert!(carries_text(&frame, "on the topic"), "{frame:?}");
    assert_eq!(frame.header("destination"), Some(topic.as_str()));
    assert_eq!(
        frame.header("subscription"),
        None,
        "1.0: no subscription header for a subscription without id"
    );

    let reply = client
        .request(
            Frame::new(Command::Unsubscribe)
                .with_header("destination", topic.as_str())
                .with_header("receipt", "r-u"),
        )
        .await;
    assert!(is_receipt(&reply, "r-u"), "{reply:?} {}", body_text(&reply));
    server.post_message(&bob, room, "as a notification").await;
    let frame = client.next().await.expect("a MESSAGE");
    assert!(carries_text(&frame, "as a notification"), "{frame:?}");
    assert_eq!(frame.header("destination"), Some(NOTIFICATIONS_DEST));
}

#[tokio::test]
async fn stomp_1_0_headers_are_not_escaped() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut client = connect_1_0(&server, &alice.token).await;
    // 1.0 has no escapes: `\c` is two characters, in both directions.
    client
        .send_raw(
            format!(
                "SEND\ndestination:/app/rooms/{room}\ncontent-type:text/plain\n\
                 client-msg-id:a\\cb\nreceipt:r\\c1\n\nhello\0"
            )
            .as_bytes(),
        )
        .await;
    let receipt = client.next().await.expect("a RECEIPT");
    assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");
    assert_eq!(receipt.header("receipt-id"), Some("r\\c1"));
    let stored = server.history(&alice, room, "").await;
    assert_eq!(stored[0]["clientMsgId"], "a\\cb");
}

#[tokio::test]
async fn two_subscriptions_to_one_room_each_get_every_message_and_no_notification() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let topic = format!("/topic/rooms/{room}");
    server.post_message(&bob, room, "one").await;
    server.post_message(&bob, room, "two").await;

    let mut client = Stomp::connect(&server, &alice.token).await;
    client.subscribe("n", NOTIFICATIONS_DEST).await;
    client.subscribe("e", "/user/queue/errors").await;
    client.subscribe("a", &topic).await;
    client.subscribe("b", &topic).await;

    server.post_message(&bob, room, "three").await;
    let frames = client
        .until(|f| f.command == Command::Message && f.header("subscription") == Some("b"))
        .await;
    let subs = subscriptions_and_seqs(&frames);
    assert_eq!(subs, [(Some("a"), Some("3")), (Some("b"), Some("3"))]);

    // A third subscription with since-seq replays to itself only, then shares the live flow.
    let replayed = client
        .subscribe_with("c", &topic, &[("since-seq", "1")])
        .await;
    let replayed = subscriptions_and_seqs(&replayed);
    assert_eq!(replayed, [(Some("c"), Some("2")), (Some("c"), Some("3"))]);

    // Unsubscribing one leaves the others (and the topic route) alone.
    let reply = client
        .request(
            Frame::new(Command::Unsubscribe)
                .with_header("id", "a")
                .with_header("receipt", "u-a"),
        )
        .await;
    assert!(is_receipt(&reply, "u-a"), "{reply:?}");
    server.post_message(&bob, room, "four").await;
    client
        .send_frame(
            Frame::new(Command::Unsubscribe)
                .with_header("id", "b")
                .with_header("receipt", "u-b"),
        )
        .await;
    let frames = client.until(|f| is_receipt(f, "u-b")).await;
    let subs: Vec<_> = frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .map(|f| {
            (
                f.header("destination"),
                f.header("subscription"),
                f.header("seq"),
            )
        })
        .collect();
    assert_eq!(
        subs,
        [
            (Some(topic.as_str()), Some("b"), Some("4")),
            (Some(topic.as_str()), Some("c"), Some("4"))
        ],
        "one frame per remaining subscription, no notification"
    );

    // When the last one goes, the room's messages come as notifications again.
    client
        .send_frame(
            Frame::new(Command::Unsubscribe)
                .with_header("id", "c")
                .with_header("receipt", "u-c"),
        )
        .await;
    client.until(|f| is_receipt(f, "u-c")).await;
    server.post_message(&bob, room, "five").await;
    let frame = client.next().await.expect("a notification");
    assert_eq!(frame.header("destination"), Some(NOTIFICATIONS_DEST));
    assert!(carries_text(&frame, "five"), "{frame:?}");
}

#[tokio::test]
async fn a_second_subscription_that_holds_more_than_the_first_skips_what_it_holds() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let topic = format!("/topic/rooms/{room}");
    let mut client = Stomp::connect(&server, &alice.token).await;
    client.subscribe("a", &topic).await;
    // The client says subscription b holds up to seq 1 already (say, from the HTTP history).
    let replayed = client
        .subscribe_with("b", &topic, &[("since-seq", "1")])
        .await;
    assert!(replayed.is_empty(), "{replayed:?}");
    server.post_message(&bob, room, "one").await;
    server.post_message(&bob, room, "two").await;
    let frames = client
        .until(|f| f.header("subscription") == Some("b"))
        .await;
    let subs = subscriptions_and_seqs(&frames);
    assert_eq!(
        subs,
        [
            (Some("a"), Some("1")),
            (Some("a"), Some("2")),
            (Some("b"), Some("2"))
        ]
    );
}

#[tokio::test]
async fn client_ack_subscriptions_carry_ack_headers_and_acks_are_answered() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let topic = format!("/topic/rooms/{room}");
    let mut client = Stomp::connect(&server, &alice.token).await;
    client.subscribe("e", "/user/queue/errors").await;
    client
        .subscribe_with("i", &topic, &[("ack", "client-individual")])
        .await;
    client
        .subscribe_with("c", &topic, &[("ack", "client")])
        .await;
    client
        .subscribe_with("auto", &topic, &[("ack", "auto")])
        .await;

    server.post_message(&bob, room, "ack me").await;
    let frames = client
        .until(|f| f.header("subscription") == Some("auto"))
        .await;
    let mut acks = std::collections::HashMap::new();
    for frame in &frames {
        acks.insert(
            frame.header("subscription").unwrap_or("").to_string(),
            frame.header("ack").map(str::to_string),
        );
    }
    assert_eq!(acks.len(), 3, "{frames:?}");
    assert_eq!(acks["auto"], None, "ack:auto frames carry no ack header");
    let ack_i = acks["i"].clone().expect("client-individual: an ack header");
    let ack_c = acks["c"].clone().expect("client: an ack header");
    assert_ne!(ack_i, ack_c, "each delivery has its own ack id");

    for (command, id, receipt) in [
        (Command::Ack, ack_i.as_str(), "ack-1"),
        (Command::Nack, ack_c.as_str(), "nack-1"),
        (Command::Ack, "no-such-ack-id", "ack-unknown"),
    ] {
        let reply = client
            .request(
                Frame::new(command)
                    .with_header("id", id)
                    .with_header("receipt", receipt),
            )
            .await;
        assert!(
            is_receipt(&reply, receipt),
            "{reply:?} {}",
            body_text(&reply)
        );
    }
    // A NACK redelivers nothing: the next frames are the next message's.
    server.post_message(&bob, room, "next").await;
    let frames = client
        .until(|f| f.header("subscription") == Some("auto"))
        .await;
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert!(frames.iter().all(|f| carries_text(f, "next")), "{frames:?}");

    let refused = client
        .request(
            Frame::new(Command::Subscribe)
                .with_header("id", "x")
                .with_header("destination", topic.as_str())
                .with_header("ack", "sometimes")
                .with_header("receipt", "bad-ack"),
        )
        .await;
    assert!(is_error_for(&refused, "bad-ack"), "{refused:?}");
}

#[tokio::test]
async fn no_common_version_is_an_error_that_lists_the_supported_ones() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let mut client = Stomp::open(&server).await;
    let error = client
        .request(
            Frame::new(Command::Connect)
                .with_header("accept-version", "2.0,2.1")
                .with_header("Authorization", format!("Bearer {}", alice.token)),
        )
        .await;
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert_eq!(error.header("message"), Some("malformed"));
    assert_eq!(error.header("version"), Some("1.0,1.1,1.2"));
    assert!(client.next().await.is_none(), "then the socket closes");
}

#[tokio::test]
async fn an_upgrade_offering_only_unknown_subprotocols_is_refused_with_a_reason() {
    let server = TestServer::spawn().await;
    let refused = Stomp::open_with(&server, |request| {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("mqtt, wamp"),
        );
    })
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(
                body.contains("v12.stomp"),
                "the body says what to offer: {body}"
            );
        }
        Err(other) => panic!("expected a 400, got {other:?}"),
        Ok(_) => panic!("expected a 400, got an upgrade"),
    }

    // Offering none is plain STOMP over WebSocket: accepted, without a subprotocol.
    let alice = server.user("alice").await;
    let mut client = Stomp::open_with(&server, |request| {
        request.headers_mut().remove("Sec-WebSocket-Protocol");
    })
    .await
    .expect("an upgrade without subprotocols");
    let connected = client
        .request(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.2")
                .with_header("Authorization", format!("Bearer {}", alice.token)),
        )
        .await;
    assert_eq!(connected.command, Command::Connected);

    // One known among unknown ones is chosen.
    let mixed = Stomp::open_with(&server, |request| {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("mqtt, v11.stomp"),
        );
    })
    .await;
    assert!(
        mixed.is_ok(),
        "a known subprotocol among others is accepted"
    );
}

#[tokio::test]
async fn a_websocket_message_above_the_hard_cap_gets_too_large_and_close_1009() {
    let server = TestServer::spawn_with(|c| c.limits.max_frame_bytes = 1024).await;
    let alice = server.user("alice").await;
    let mut client = Stomp::connect(&server, &alice.token).await;
    // Far above the WebSocket layer's own cap (a few times max_frame_bytes).
    let huge = format!(
        "SEND\ndestination:/app/rooms/1\n\n{}\0",
        "x".repeat(64 * 1024)
    );
    client.send_raw(huge.as_bytes()).await;
    let error = client.next().await.expect("an ERROR before the close");
    assert_eq!(error.command, Command::Error, "{error:?}");
    assert_eq!(error.header("message"), Some("too_large"));
    let (code, reason) = client.close_frame().await.expect("a close frame");
    assert_eq!(code, 1009, "1009: message too big");
    assert_eq!(reason, "too_large");

    // A STOMP frame above max_frame_bytes (under the hard cap) ends the same way.
    let mut client = Stomp::connect(&server, &alice.token).await;
    let big = format!("SEND\ndestination:/app/rooms/1\n\n{}\0", "x".repeat(2048));
    client.send_raw(big.as_bytes()).await;
    let error = client.next().await.expect("an ERROR before the close");
    assert_eq!(error.header("message"), Some("too_large"));
    let (code, _) = client.close_frame().await.expect("a close frame");
    assert_eq!(code, 1009);
}

/// The frames a SEND with a receipt gets back, up to and including its RECEIPT.
async fn send_and_collect(client: &mut Stomp, room: i64, text: &str) -> Vec<Frame> {
    client.send_text(room, text, "s-1").await;
    client.until(|f| is_receipt(f, "s-1")).await
}

#[tokio::test]
async fn the_senders_own_copy_comes_before_its_receipt() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;

    // Subscribed to the room's topic: the own MESSAGE there, then the RECEIPT.
    let mut viewer = Stomp::connect(&server, &alice.token).await;
    viewer.subscribe("t", &format!("/topic/rooms/{room}")).await;
    let frames = send_and_collect(&mut viewer, room, "on the topic").await;
    let commands: Vec<_> = frames.iter().map(|f| f.command).collect();
    assert_eq!(commands, [Command::Message, Command::Receipt], "{frames:?}");
    assert!(carries_text(&frames[0], "on the topic"));
    assert_eq!(frames[0].header("seq"), frames[1].header("seq"));

    // Not subscribed to it: the own notification, then the RECEIPT.
    let mut elsewhere = Stomp::connect(&server, &alice.token).await;
    elsewhere.subscribe("n", NOTIFICATIONS_DEST).await;
    let frames = send_and_collect(&mut elsewhere, room, "as a notification").await;
    let routes: Vec<_> = frames
        .iter()
        .map(|f| (f.command, f.header("destination")))
        .collect();
    assert_eq!(
        routes,
        [
            (Command::Message, Some(NOTIFICATIONS_DEST)),
            (Command::Receipt, None)
        ],
        "{frames:?}"
    );
    assert!(carries_text(&frames[0], "as a notification"));
}

/// Each subscription multiplies every delivered frame, so one destination takes a bounded
/// number of them; the refusal is an error event and the others carry on.
#[tokio::test]
async fn one_destination_takes_at_most_sixteen_subscriptions() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut client = Stomp::connect(&server, &alice.token).await;
    client.subscribe("e", "/user/queue/errors").await;
    for i in 0..16 {
        client.subscribe(&format!("n{i}"), NOTIFICATIONS_DEST).await;
    }
    client
        .send_frame(
            Frame::new(Command::Subscribe)
                .with_header("id", "n16")
                .with_header("destination", NOTIFICATIONS_DEST)
                .with_header("receipt", "sub-n16"),
        )
        .await;
    let refused = client.next().await.expect("an answer");
    assert!(is_error_for(&refused, "sub-n16"), "{refused:?}");
    assert_eq!(body(&refused)["code"], "too_large");

    server.post_message(&bob, room, "still here").await;
    let frames = client
        .until(|f| f.header("subscription") == Some("n9"))
        .await;
    let notified = frames
        .iter()
        .filter(|f| carries_text(f, "still here"))
        .count();
    assert_eq!(
        notified, 16,
        "one copy per subscription, none for the refused one"
    );
}
