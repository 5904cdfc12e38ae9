//! Hostile and unlucky clients: slow drip frames, too many connections, password guessing,
//! a consumer that stops reading, and a reconnect storm. Each must not hurt anyone else.

use futures_util::future::join_all;
use serde_json::json;
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

#[tokio::test]
async fn a_frame_that_never_completes_times_out() {
    let server = TestServer::spawn_with(|c| c.limits.frame_timeout_ms = 300).await;
    let alice = server.user("alice").await;
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.send_raw(b"SEND\ndestination:/app/rooms/1\n").await;
    c.send_raw(b"content-type:text/plain\n\nstill go").await;
    let error = c.next().await.expect("ERROR");
    assert_eq!(error.command, Command::Error);
    assert_eq!(error.header("message"), Some("malformed"));
    assert!(c.next().await.is_none());
}

#[tokio::test]
async fn connections_per_user_and_per_ip_are_capped() {
    let server = TestServer::spawn_with(|c| {
        c.limits.max_connections_per_user = 2;
        c.limits.max_connections_per_ip = 4;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let _a1 = Stomp::connect(&server, &alice.token).await;
    let _a2 = Stomp::connect(&server, &alice.token).await;
    let mut a3 = Stomp::open(&server).await;
    a3.send_frame(
        Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("Authorization", format!("Bearer {}", alice.token)),
    )
    .await;
    let error = a3.next().await.expect("ERROR");
    assert_eq!(error.header("message"), Some("too_many_connections"));
    assert!(a3.next().await.is_none());
    // Bob is unaffected by Alice's cap; the fourth socket from this IP is the last one.
    let _b1 = Stomp::connect(&server, &bob.token).await;
    let _b2 = Stomp::connect(&server, &bob.token).await;
    match Stomp::open_with(&server, |_| {}).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        Err(other) => panic!("expected 429, got {other:?}"),
        Ok(_) => panic!("a fifth socket from one IP was accepted"),
    }
}

#[tokio::test]
async fn password_guessing_and_registration_floods_are_throttled() {
    let server = TestServer::spawn_with(|c| {
        c.limits.failed_logins_per_user = 3;
        c.limits.auth_attempts_per_minute = 8;
    })
    .await;
    let (status, _) = server
        .post(
            "/api/register",
            None,
            json!({"username": "victim", "password": "the right one"}),
        )
        .await;
    assert_eq!(status, 201);
    for _ in 0..3 {
        let (status, _) = server
            .post(
                "/api/login",
                None,
                json!({"username": "victim", "password": "guess!!!"}),
            )
            .await;
        assert_eq!(status, 401);
    }
    let (status, err) = server
        .post(
            "/api/login",
            None,
            json!({"username": "VICTIM", "password": "the right one"}),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (429, Some("rate_limited")),
        "{err}"
    );
    // The per-IP budget (8, refilled at 8 a minute; 5 used) runs out for everything else too.
    let mut refused = 0;
    for i in 0..20 {
        let (status, _) = server
            .post(
                "/api/register",
                None,
                json!({"username": format!("bot{i}"), "password": "password1"}),
            )
            .await;
        assert!(status == 201 || status == 429, "{status}");
        refused += usize::from(status == 429);
    }
    assert!(
        refused >= 12,
        "at most 3 + a minute's refill got through; {refused} refused"
    );
}

#[tokio::test]
async fn a_consumer_that_stops_reading_is_cut_off_and_recovers() {
    let server = TestServer::spawn_with(|c| {
        c.limits.outbound_queue = 8;
        c.limits.max_message_chars = 60_000;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "firehose", &[&bob, &carol]).await;
    let topic = format!("/topic/rooms/{room}");

    let mut slow = Stomp::connect(&server, &bob.token).await;
    slow.subscribe("t", &topic).await;
    let mut steady = Stomp::connect(&server, &carol.token).await;
    steady.subscribe("t", &topic).await;

    const COUNT: u64 = 300;
    let payload = "x".repeat(50_000);
    // Carol keeps reading while Alice floods; Bob reads nothing at all.
    let reader = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while (seqs.len() as u64) < COUNT {
            let frame = steady.next().await.expect("carol stays connected");
            if let Some(seq) = frame.header("seq") {
                seqs.push(seq.parse::<u64>().expect("seq"));
            }
        }
        seqs
    });
    for i in 0..COUNT {
        server
            .post_message(&alice, room, &format!("{i} {payload}"))
            .await;
    }
    let carol_seqs = reader.await.expect("reader");
    assert_eq!(
        carol_seqs,
        (1..=COUNT).collect::<Vec<_>>(),
        "the steady reader got everything, in order"
    );

    // Bob's connection was closed: what it holds is a gap-free prefix, then the end.
    let mut bob_seqs = Vec::new();
    let mut ended_with = None;
    while let Some(frame) = slow.next().await {
        match frame.command {
            Command::Message => bob_seqs.push(
                frame
                    .header("seq")
                    .and_then(|s| s.parse::<u64>().ok())
                    .expect("seq"),
            ),
            Command::Error => ended_with = frame.header("message").map(str::to_string),
            _ => {}
        }
    }
    assert!(
        (bob_seqs.len() as u64) < COUNT,
        "the slow consumer was cut off ({} frames)",
        bob_seqs.len()
    );
    assert_eq!(bob_seqs, (1..=bob_seqs.len() as u64).collect::<Vec<_>>());
    if let Some(code) = ended_with {
        assert_eq!(code, "slow_consumer");
    }
    // Back again, it catches up from where it was with since-seq.
    let held = bob_seqs.len().to_string();
    let mut back = Stomp::connect(&server, &bob.token).await;
    let replay = back
        .subscribe_with("t", &topic, &[("since-seq", &held)])
        .await;
    let replayed: Vec<u64> = replay
        .iter()
        .filter_map(|f| f.header("seq")?.parse().ok())
        .collect();
    assert_eq!(
        replayed,
        (bob_seqs.len() as u64 + 1..=COUNT).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_reconnect_storm_recovers_every_subscription_without_gaps() {
    const CLIENTS: usize = 2000;
    // Two thousand handshakes at once on a small machine take a while; this only guards hangs.
    const STORM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);
    const ROOM_SIZE: usize = 10;
    let server = TestServer::spawn().await;
    let owner = server.user("owner").await;
    let mut users = Vec::with_capacity(CLIENTS);
    for chunk in (0..CLIENTS).collect::<Vec<_>>().chunks(200) {
        users.extend(join_all(chunk.iter().map(|i| server.user_named(format!("storm{i}")))).await);
    }
    let mut rooms = Vec::new();
    for members in users.chunks(ROOM_SIZE) {
        let refs: Vec<&TestUser> = members.iter().collect();
        rooms.push(server.group(&owner, "storm", &refs).await);
    }
    let room_of = |i: usize| rooms[i / ROOM_SIZE];
    for &room in &rooms {
        server.post_message(&owner, room, "before").await;
    }

    // Everyone connects and views its room, then everyone drops at once.
    let clients = join_all(users.iter().enumerate().map(|(i, u)| {
        let addr = server.addr;
        let token = u.token.clone();
        let topic = format!("/topic/rooms/{}", room_of(i));
        async move {
            let mut c = Stomp::connect_patiently(addr, &token, STORM_PATIENCE).await;
            c.subscribe_with("t", &topic, &[("since-seq", "0")]).await;
            c
        }
    }))
    .await;
    join_all(clients.into_iter().map(Stomp::close)).await;

    // Messages arrive while everyone is away.
    for &room in &rooms {
        server.post_message(&owner, room, "while away 1").await;
        server.post_message(&owner, room, "while away 2").await;
    }

    // Everyone comes back at once, resuming after seq 1.
    let results = join_all(users.iter().enumerate().map(|(i, u)| {
        let addr = server.addr;
        let token = u.token.clone();
        let topic = format!("/topic/rooms/{}", room_of(i));
        async move {
            let mut c = Stomp::connect_patiently(addr, &token, STORM_PATIENCE).await;
            let replay = c.subscribe_with("t", &topic, &[("since-seq", "1")]).await;
            let seqs: Vec<u64> = replay
                .iter()
                .filter_map(|f| f.header("seq")?.parse().ok())
                .collect();
            c.close().await;
            seqs
        }
    }))
    .await;
    for (i, seqs) in results.iter().enumerate() {
        assert_eq!(seqs, &vec![2, 3], "client {i}");
    }
}
