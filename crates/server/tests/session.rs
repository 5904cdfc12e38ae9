//! STOMP sessions: CONNECT and versions, tokens, heart-beats, bad input, limits, shutdown.

use sotong_stomp::{Command, Frame};
use sotong_testkit::*;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn connect_frame(token: &str) -> Frame {
    Frame::new(Command::Connect)
        .with_header("accept-version", "1.0,1.1,1.2")
        .with_header("host", "localhost")
        .with_header("Authorization", format!("Bearer {token}"))
}

/// The ERROR that ends a connection, and proof that the socket then closes.
async fn expect_fatal(client: &mut Stomp, code: &str) -> Frame {
    let frame = client.next().await.expect("an ERROR frame");
    assert_eq!(frame.command, Command::Error, "{frame:?}");
    assert_eq!(frame.header("message"), Some(code), "{}", body_text(&frame));
    assert!(
        client.next().await.is_none(),
        "the socket closes after ERROR"
    );
    frame
}

#[tokio::test]
async fn connect_negotiates_version_subprotocol_and_user() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.ws_url(),
        )
        .expect("req");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v12.stomp, v11.stomp, v10.stomp"),
    );
    let (_ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap_or("")),
        Some("v12.stomp")
    );

    let mut c = Stomp::open(&server).await;
    let connected = c.request(connect_frame(&alice.token)).await;
    assert_eq!(connected.command, Command::Connected);
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("user-name"), Some("alice"));
    assert!(connected
        .header("server")
        .is_some_and(|s| s.starts_with("sotong/")));

    let mut c = Stomp::open(&server).await;
    let connected = c
        .request(
            Frame::new(Command::Stomp)
                .with_header("accept-version", "1.1")
                .with_header("passcode", alice.token.as_str()),
        )
        .await;
    assert_eq!(
        connected.header("version"),
        Some("1.1"),
        "passcode works, 1.1 chosen"
    );

    let mut c = Stomp::open(&server).await;
    let connected = c
        .request(
            Frame::new(Command::Connect)
                .with_header("login", "x")
                .with_header("passcode", alice.token.as_str()),
        )
        .await;
    assert_eq!(
        connected.header("version"),
        Some("1.0"),
        "no accept-version means 1.0"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_code() {
    let server = TestServer::spawn().await;
    let mut c = Stomp::open(&server).await;
    c.send_frame(connect_frame("not-a-token")).await;
    expect_fatal(&mut c, "unauthorized").await;

    let mut c = Stomp::open(&server).await;
    c.send_frame(connect_frame(&jwt("alice", -3600))).await;
    expect_fatal(&mut c, "token_expired").await;

    let mut c = Stomp::open(&server).await;
    c.send_frame(connect_frame(&jwt_with_secret(
        "alice",
        3600,
        "some-other-secret-entirely",
    )))
    .await;
    expect_fatal(&mut c, "unauthorized").await;

    let mut c = Stomp::open(&server).await;
    c.send_frame(Frame::new(Command::Connect).with_header("accept-version", "1.2"))
        .await;
    expect_fatal(&mut c, "unauthorized").await;

    let mut c = Stomp::open(&server).await;
    c.send_frame(
        Frame::new(Command::Subscribe)
            .with_header("id", "1")
            .with_header("destination", "/user/queue/errors"),
    )
    .await;
    expect_fatal(&mut c, "malformed").await;
}

#[tokio::test]
async fn a_connection_closes_when_its_token_expires_and_can_swap_tokens() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    // A token with two seconds left (the JWT leeway is 30 s, so it must be in the future).
    let short = jwt("alice", 2);
    let mut c = Stomp::connect(&server, &short).await;
    expect_fatal(&mut c, "token_expired").await;

    // Swapping in a fresh token keeps the connection open past the old expiry.
    let mut c = Stomp::connect(&server, &jwt("alice", 2)).await;
    c.subscribe("e", "/user/queue/errors").await;
    c.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", "/app/token")
            .with_header("Authorization", format!("Bearer {}", alice.token))
            .with_header("receipt", "swap"),
    )
    .await;
    c.until(|f| is_receipt(f, "swap")).await;
    // Another user's token is refused, and the connection stays.
    c.send_frame(
        Frame::new(Command::Send)
            .with_header("destination", "/app/token")
            .with_header("Authorization", format!("Bearer {}", jwt("bob", 3600)))
            .with_header("receipt", "steal"),
    )
    .await;
    let err = c
        .until(|f| is_error_for(f, "steal"))
        .await
        .pop()
        .expect("error");
    assert_eq!(body(&err)["code"], "forbidden");
    // Past the first token's expiry, still connected: a SUBSCRIBE gets its receipt.
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        c.subscribe("t", &format!("/topic/rooms/{room}")).await;
        let unsub = Frame::new(Command::Unsubscribe)
            .with_header("id", "t")
            .with_header("receipt", "u");
        c.send_frame(unsub).await;
        c.until(|f| is_receipt(f, "u")).await;
    }
}

#[tokio::test]
async fn logout_ends_the_token_and_its_sockets_at_once() {
    let server = TestServer::spawn().await;
    let (status, _) = server
        .post(
            "/api/register",
            None,
            serde_json::json!({"username": "dana", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, login) = server
        .post(
            "/api/login",
            None,
            serde_json::json!({"username": "Dana", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 200);
    let token = login["token"].as_str().expect("token").to_string();
    let (status, _) = server
        .post(
            "/api/login",
            None,
            serde_json::json!({"username": "dana", "password": "long enougH"}),
        )
        .await;
    assert_eq!(status, 401);
    let (_, other_login) = server
        .post(
            "/api/login",
            None,
            serde_json::json!({"username": "dana", "password": "long enough"}),
        )
        .await;
    let other = other_login["token"].as_str().expect("token").to_string();

    let mut c = Stomp::connect(&server, &token).await;
    let mut d = Stomp::connect(&server, &other).await;
    let (status, _) = server
        .request(reqwest::Method::POST, "/api/logout", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    expect_fatal(&mut c, "unauthorized").await;
    assert_eq!(server.get("/api/me", Some(&token)).await.0, 401);
    // The other session of the same user is untouched.
    assert_eq!(server.get("/api/me", Some(&other)).await.0, 200);
    d.subscribe("n", "/user/queue/notifications").await;
}

#[tokio::test]
async fn heart_beats_both_ways_and_a_silent_client_times_out() {
    let server = TestServer::spawn_with(|c| {
        c.limits.heartbeat_min_ms = 50;
        c.limits.heartbeat_want_ms = 100;
    })
    .await;
    let alice = server.user("alice").await;
    // The client wants a beat every 50 ms and promises one every 100 ms, then stays silent.
    let mut c = Stomp::open(&server).await;
    let connected = c
        .request(connect_frame(&alice.token).with_header("heart-beat", "100,50"))
        .await;
    assert_eq!(connected.header("heart-beat"), Some("50,100"));
    let error = c.next().await.expect("ERROR after silence");
    assert_eq!(error.header("message"), Some("heartbeat_timeout"));
    assert!(
        c.heartbeats >= 2,
        "the server sent EOL heart-beats ({})",
        c.heartbeats
    );
}

#[tokio::test]
async fn malformed_and_oversized_frames_end_the_connection_with_a_code() {
    let server = TestServer::spawn_with(|c| c.limits.max_frame_bytes = 4096).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    // A bystander stays connected and subscribed through all of it.
    let mut bystander = Stomp::connect(&server, &bob.token).await;
    bystander
        .subscribe("t", &format!("/topic/rooms/{room}"))
        .await;

    let many_headers: String = (0..100).map(|i| format!("h{i}:v\n")).collect();
    let long_header = format!(
        "SEND\ndestination:/app/rooms/1\nx:{}\n\nhi\0",
        "v".repeat(9000)
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"BOGUS\n\n\0".to_vec(), "malformed"),
        (
            b"send\ndestination:/app/rooms/1\n\nhi\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/rooms/1\ncontent-length:abc\n\nhi\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/rooms/1\ncontent-length:-1\n\nhi\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/rooms/1\ncontent-length:2\n\nhello\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/rooms/1\nbad\xffheader:x\n\nhi\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/\0rooms/1\n\nhi\0".to_vec(),
            "malformed",
        ),
        (
            b"SEND\ndestination:/app/rooms/1\nx:bad\\tescape\n\nhi\0".to_vec(),
            "malformed",
        ),
        (b"SEND\nno colon here\n\nhi\0".to_vec(), "malformed"),
        (
            b"MESSAGE\ndestination:/topic/rooms/1\n\n\0".to_vec(),
            "malformed",
        ),
        (
            format!("SEND\n{many_headers}\nhi\0").into_bytes(),
            "too_large",
        ),
        (long_header.into_bytes(), "too_large"),
        (
            b"SEND\ndestination:/app/rooms/1\ncontent-length:999999\n\n".to_vec(),
            "too_large",
        ),
    ];
    for (i, (bytes, code)) in cases.iter().enumerate() {
        let mut c = Stomp::connect(&server, &alice.token).await;
        if std::str::from_utf8(bytes).is_ok() {
            c.send_raw(bytes).await;
        } else {
            c.send_binary(bytes).await;
        }
        let frame = c
            .next()
            .await
            .unwrap_or_else(|| panic!("case {i}: an ERROR frame"));
        assert_eq!(frame.command, Command::Error, "case {i}");
        assert_eq!(
            frame.header("message"),
            Some(*code),
            "case {i}: {}",
            body_text(&frame)
        );
        assert!(
            !frame.body.is_empty(),
            "case {i}: the ERROR says what was wrong"
        );
        assert!(c.next().await.is_none(), "case {i}: closed after ERROR");
    }

    let mut c = Stomp::connect(&server, &alice.token).await;
    let mut big = format!("SEND\ndestination:/app/rooms/{room}\n\n").into_bytes();
    big.extend(std::iter::repeat_n(b'x', 3000));
    c.send_raw(&big).await; // no NUL yet: a partial frame
    c.send_raw(&vec![b'y'; 3000]).await; // now over the limit without completing
    expect_fatal(&mut c, "too_large").await;

    // Nothing was stored, and the server serves others as before.
    assert!(server.history(&alice, room, "").await.is_empty());
    let mut ok = Stomp::connect(&server, &alice.token).await;
    ok.send_text(room, "fine", "r").await;
    let frames = ok.until(|f| is_receipt(f, "r")).await;
    assert_eq!(frames.last().and_then(|f| f.header("seq")), Some("1"));
    let seen = bystander.until(|f| carries_text(f, "fine")).await;
    assert_eq!(topic_messages(&seen), vec![(room, 1, "fine".into())]);
}

#[tokio::test]
async fn invalid_requests_are_error_events_that_keep_the_connection() {
    let server = TestServer::spawn_with(|c| {
        c.limits.max_message_chars = 10;
        c.limits.max_subscriptions = 3;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.subscribe("e", "/user/queue/errors").await;
    c.subscribe("t", &format!("/topic/rooms/{room}")).await;

    let cases: Vec<(Frame, &str)> = vec![
        (
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_body(b"{\"text\":\"way too long for this\"}".to_vec()),
            "too_large",
        ),
        (
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_body(b"{\"text\":\"   \"}".to_vec()),
            "invalid",
        ),
        (
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("content-type", "application/json")
                .with_body(b"not json".to_vec()),
            "invalid",
        ),
        (
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_body(vec![0xc3, 0x28]),
            "invalid",
        ),
        (
            Frame::new(Command::Send).with_header("destination", "/app/nowhere"),
            "not_found",
        ),
        (Frame::new(Command::Send), "invalid"),
        (
            Frame::new(Command::Subscribe).with_header("destination", "/user/queue/notifications"),
            "invalid",
        ),
        (
            Frame::new(Command::Subscribe)
                .with_header("id", "t")
                .with_header("destination", "/user/queue/notifications"),
            "invalid",
        ),
        (
            Frame::new(Command::Subscribe).with_header("id", "t2"),
            "invalid",
        ),
        (
            Frame::new(Command::Subscribe)
                .with_header("id", "x")
                .with_header("destination", "/topic/elsewhere"),
            "not_found",
        ),
        (
            Frame::new(Command::Subscribe)
                .with_header("id", "y")
                .with_header("destination", format!("/topic/rooms/{room}x")),
            "not_found",
        ),
        (
            Frame::new(Command::Subscribe)
                .with_header("id", "z")
                .with_header("destination", "/user/queue/notifications")
                .with_header("ack", "sometimes"),
            "invalid",
        ),
        (
            Frame::new(Command::Unsubscribe).with_header("id", "nope"),
            "invalid",
        ),
        (
            Frame::new(Command::Begin).with_header("transaction", "tx1"),
            "invalid",
        ),
        (
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}/read"))
                .with_body(b"{\"seq\":\"one\"}".to_vec()),
            "invalid",
        ),
        (
            Frame::new(Command::Subscribe)
                .with_header("id", "s1")
                .with_header("destination", format!("/topic/rooms/{room}"))
                .with_header("since-seq", "-1"),
            "invalid",
        ),
    ];
    for (i, (frame, code)) in cases.into_iter().enumerate() {
        let receipt = format!("case-{i}");
        c.send_frame(frame.with_header("receipt", receipt.clone()))
            .await;
        let err = c
            .until(|f| is_error_for(f, &receipt) || is_receipt(f, &receipt))
            .await
            .pop()
            .expect("answer");
        assert_eq!(err.command, Command::Message, "case {i} should fail");
        assert_eq!(body(&err)["code"], code, "case {i}: {}", body_text(&err));
        assert_eq!(body(&err)["type"], "error");
    }
    // The subscription limit (3): e, t, and one more.
    c.subscribe("n", "/user/queue/notifications").await;
    let receipt = "over-limit";
    c.send_frame(
        Frame::new(Command::Subscribe)
            .with_header("id", "4")
            .with_header("destination", "/topic/rooms/1")
            .with_header("receipt", receipt),
    )
    .await;
    let err = c
        .until(|f| is_error_for(f, receipt))
        .await
        .pop()
        .expect("error");
    assert_eq!(body(&err)["code"], "too_large");

    // After all that, the room subscription still delivers.
    c.send_text(room, "still ok", "last").await;
    let frames = c.until(|f| carries_text(f, "still ok")).await;
    assert_eq!(topic_messages(&frames), vec![(room, 1, "still ok".into())]);
}

#[tokio::test]
async fn sends_over_the_rate_are_refused_not_stored() {
    let server = TestServer::spawn_with(|c| {
        c.limits.send_rate_per_sec = 1;
        c.limits.send_burst = 3;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.subscribe("e", "/user/queue/errors").await;
    for i in 0..5 {
        c.send_text(room, &format!("m{i}"), &format!("r{i}")).await;
    }
    let frames = c
        .until(|f| is_receipt(f, "r4") || is_error_for(f, "r4"))
        .await;
    let limited: Vec<_> = frames
        .iter()
        .filter(|f| body(f)["code"] == "rate_limited")
        .collect();
    assert!(!limited.is_empty(), "some sends were rate limited");
    let receipts = frames
        .iter()
        .filter(|f| f.command == Command::Receipt)
        .count();
    assert_eq!(
        server.history(&alice, room, "").await.len(),
        receipts,
        "exactly the receipted ones are stored"
    );
}

#[tokio::test]
async fn disconnect_with_receipt_and_cross_origin_upgrades() {
    let server =
        TestServer::spawn_with(|c| c.allowed_origins = vec!["http://app.example".into()]).await;
    let alice = server.user("alice").await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.send_frame(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let receipt = c.next().await.expect("receipt");
    assert!(is_receipt(&receipt, "bye"));
    assert!(c.next().await.is_none(), "closed after the receipt");

    let evil = Stomp::open_with(&server, |r| {
        r.headers_mut()
            .insert("Origin", HeaderValue::from_static("http://evil.example"));
    })
    .await;
    match evil {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(other) => panic!("expected 403, got {other:?}"),
        Ok(_) => panic!("a foreign origin was let in"),
    }
    let own = format!("http://{}", server.addr);
    let ok = Stomp::open_with(&server, |r| {
        r.headers_mut()
            .insert("Origin", HeaderValue::from_str(&own).expect("origin"));
    })
    .await;
    assert!(ok.is_ok(), "the server's own origin is allowed");
    let listed = Stomp::open_with(&server, |r| {
        r.headers_mut()
            .insert("Origin", HeaderValue::from_static("http://app.example"));
    })
    .await;
    assert!(listed.is_ok(), "an allowed origin is allowed");
}

#[tokio::test]
async fn shutdown_drains_sessions_with_a_reason() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.subscribe("n", "/user/queue/notifications").await;
    server.shutdown.cancel();
    expect_fatal(&mut c, "shutting_down").await;
    let _ = server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_connects_is_dropped() {
    let server = TestServer::spawn_with(|c| c.limits.connect_timeout_ms = 200).await;
    let mut c = Stomp::open(&server).await;
    let frame = c.next().await.expect("ERROR");
    assert_eq!(frame.command, Command::Error);
    assert!(c.next().await.is_none());
}

#[tokio::test]
async fn frames_split_across_and_packed_into_websocket_messages() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut c = Stomp::open(&server).await;
    let connect = format!(
        "CONNECT\naccept-version:1.2\nAuthorization:Bearer {}\n\n\0",
        alice.token
    );
    let (head, tail) = connect.as_bytes().split_at(10);
    c.send_raw(head).await;
    c.send_raw(tail).await;
    assert_eq!(
        c.next().await.expect("connected").command,
        Command::Connected
    );
    let packed = format!(
        "\nSUBSCRIBE\nid:t\ndestination:/topic/rooms/{room}\n\n\0\nSEND\ndestination:/app/rooms/{room}\ncontent-type:text/plain\nreceipt:p\n\nplain text\0"
    );
    c.send_raw(packed.as_bytes()).await;
    let frames = c.until(|f| carries_text(f, "plain text")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![(room, 1, "plain text".into())]
    );
}

#[tokio::test]
async fn metrics_count_connections_and_messages() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.subscribe("t", &format!("/topic/rooms/{room}")).await;
    c.send_text(room, "counted", "r").await;
    c.until(|f| carries_text(f, "counted")).await;
    let text = server.metrics().await;
    assert!(text.contains("sotong_connections 1"), "{text}");
    assert!(text.contains("sotong_subscriptions 1"), "{text}");
    assert!(text.contains("sotong_messages_stored_total 1"), "{text}");
    assert!(
        text.contains("sotong_delivery_latency_seconds_count 1"),
        "{text}"
    );
}
