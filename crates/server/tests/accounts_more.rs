//! The account's own settings, on SQLite and on PostgreSQL: a display name changed with
//! `PATCH /api/me` reaches the people who share a room with the user live (a `user`
//! notification); a password change checks the current password, keeps the session that made
//! it and ends every other one, sockets included; log out everywhere ends every token of the
//! user and closes every socket, on every node, and refuses the application's JWTs issued
//! before it.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::Command;
use sotong_testkit::*;

const NOTIFICATIONS: &str = "/user/queue/notifications";

on_both_stores!(
    a_display_name_change_reaches_other_members_live,
    a_password_change_keeps_this_session_and_ends_the_others,
    log_out_everywhere_ends_every_session_and_socket,
    log_out_everywhere_refuses_jwts_issued_before_it,
);

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or(""))
}

fn signed(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("jwt")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn set_name(server: &TestServer, user: &TestUser, name: &str) -> (u16, Value) {
    server
        .request(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            Some(json!({ "displayName": name })),
        )
        .await
}

async fn change_password(
    server: &TestServer,
    token: &str,
    current: &str,
    new: &str,
) -> (u16, Value) {
    server
        .post(
            "/api/me/password",
            Some(token),
            json!({ "currentPassword": current, "newPassword": new }),
        )
        .await
}

/// Reads frames until the socket closes; answers the `message` header of the `ERROR` it
/// closed with.
async fn closed_with(socket: &mut Stomp) -> String {
    loop {
        match socket.next().await {
            Some(frame) if frame.command == Command::Error => {
                let reason = frame.header("message").unwrap_or("").to_string();
                assert!(
                    socket.next().await.is_none(),
                    "the socket closes after ERROR"
                );
                return reason;
            }
            Some(_) => continue,
            None => panic!("the socket closed without an ERROR"),
        }
    }
}

async fn a_display_name_change_reaches_other_members_live(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let stranger = server.user("stranger").await;
    server.direct(&alice, &bob).await;
    let mut bob_socket = Stomp::connect(&server, &bob.token).await;
    bob_socket.subscribe("n", NOTIFICATIONS).await;
    let mut alice_elsewhere = Stomp::connect(&server, &alice.token).await;
    alice_elsewhere.subscribe("n", NOTIFICATIONS).await;
    let mut stranger_socket = Stomp::connect(&server, &stranger.token).await;
    stranger_socket.subscribe("n", NOTIFICATIONS).await;

    let (status, me) = set_name(&server, &alice, "  Alice   Liddell ").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["displayName"], "Alice Liddell");
    assert_eq!(me["username"], "alice");
    assert_eq!(server.get("/api/me", Some(&alice.token)).await.1, me);

    for socket in [&mut bob_socket, &mut alice_elsewhere] {
        let frames = socket.until(|f| body(f)["type"] == "user").await;
        let event = frames.last().expect("the user event");
        assert_eq!(event.header("destination"), Some(NOTIFICATIONS));
        // The event carries the user; `me` is the user plus the caller's own settings.
        let user = body(event)["user"].clone();
        assert_eq!(
            (&user["id"], &user["username"], &user["displayName"]),
            (&me["id"], &me["username"], &me["displayName"])
        );
        assert_eq!(user.get("presenceVisible"), None, "settings stay private");
    }
    // Bob's room list names the direct room after Alice's new name.
    let (_, rooms) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(rooms[0]["name"], "Alice Liddell");

    // Nobody else hears of it: a receipt after it comes with nothing before.
    let frames = stranger_socket
        .request(sotong_stomp::Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    assert_eq!(frames.command, Command::Receipt, "{frames:?}");

    for bad in ["", "\u{202E}evil", &"x".repeat(100)] {
        assert_eq!(
            code(&set_name(&server, &alice, bad).await),
            (400, "invalid")
        );
    }
    let (status, _) = server
        .request(
            Method::PATCH,
            "/api/me",
            Some(&alice.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400);
}

async fn a_password_change_keeps_this_session_and_ends_the_others(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let dana = server.password_user("dana", "first password").await;
    let (_, other) = server.login("dana", "first password").await;
    let other = other["token"].as_str().expect("token").to_string();
    let mut kept_socket = Stomp::connect(&server, &dana.token).await;
    kept_socket.subscribe("n", NOTIFICATIONS).await;
    let mut other_socket = Stomp::connect(&server, &other).await;
    other_socket.subscribe("n", NOTIFICATIONS).await;

    assert_eq!(
        code(&change_password(&server, &dana.token, "wrong guess", "second password").await),
        (403, "wrong_password")
    );
    assert_eq!(
        code(&change_password(&server, &dana.token, "first password", "short").await),
        (400, "invalid")
    );
    assert_eq!(
        server.get("/api/me", Some(&other)).await.0,
        200,
        "nothing changed yet"
    );

    let (status, _) =
        change_password(&server, &dana.token, "first password", "second password").await;
    assert_eq!(status, 204);
    assert_eq!(closed_with(&mut other_socket).await, "unauthorized");
    assert_eq!(
        code(&server.get("/api/me", Some(&other)).await),
        (401, "unauthorized")
    );

    // The session that changed it goes on, socket included.
    assert_eq!(server.get("/api/me", Some(&dana.token)).await.0, 200);
    let receipt = kept_socket
        .request(sotong_stomp::Frame::new(Command::Disconnect).with_header("receipt", "still"))
        .await;
    assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");

    assert_eq!(server.login("dana", "first password").await.0, 401);
    assert_eq!(server.login("dana", "second password").await.0, 200);

    // An account from JWTs has no password to change.
    let erin = server.user("erin").await;
    assert_eq!(
        code(&change_password(&server, &erin.token, "anything", "new password").await),
        (409, "no_password")
    );
}

async fn log_out_everywhere_ends_every_session_and_socket(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let dana = server.password_user("dana", "a password").await;
    let (_, phone) = server.login("dana", "a password").await;
    let phone = phone["token"].as_str().expect("token").to_string();
    let bob = server.password_user("bob", "a password").await;
    let mut laptop_socket = Stomp::connect(&server, &dana.token).await;
    laptop_socket.subscribe("n", NOTIFICATIONS).await;
    let mut phone_socket = Stomp::connect(&server, &phone).await;
    let mut bob_socket = Stomp::connect(&server, &bob.token).await;

    let (status, _) = server
        .request(Method::POST, "/api/logout/all", Some(&phone), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(closed_with(&mut laptop_socket).await, "unauthorized");
    assert_eq!(closed_with(&mut phone_socket).await, "unauthorized");
    for token in [&dana.token, &phone] {
        assert_eq!(
            code(&server.get("/api/me", Some(token)).await),
            (401, "unauthorized")
        );
    }
    // Another user is untouched; Dana signs in again as usual.
    let receipt = bob_socket
        .request(sotong_stomp::Frame::new(Command::Disconnect).with_header("receipt", "ok"))
        .await;
    assert_eq!(receipt.command, Command::Receipt);
    assert_eq!(server.get("/api/me", Some(&bob.token)).await.0, 200);
    assert_eq!(server.login("dana", "a password").await.0, 200);
}

async fn log_out_everywhere_refuses_jwts_issued_before_it(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let earlier = signed(json!({"sub": "erin", "exp": now() + 3600, "iat": now() - 60}));
    let without_iat = signed(json!({"sub": "erin", "exp": now() + 3600}));
    assert_eq!(server.get("/api/me", Some(&earlier)).await.0, 200);
    assert_eq!(server.get("/api/me", Some(&without_iat)).await.0, 200);
    let mut socket = Stomp::connect(&server, &without_iat).await;

    let (status, _) = server
        .request(Method::POST, "/api/logout/all", Some(&earlier), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(closed_with(&mut socket).await, "unauthorized");
    for token in [&earlier, &without_iat] {
        assert_eq!(
            code(&server.get("/api/me", Some(token)).await),
            (401, "unauthorized")
        );
    }
    let later = signed(json!({"sub": "erin", "exp": now() + 3600, "iat": now() + 1}));
    assert_eq!(server.get("/api/me", Some(&later)).await.0, 200);
}

#[tokio::test]
async fn log_out_everywhere_closes_sockets_on_both_nodes() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let dana = one.password_user("dana", "a password").await;
    let (_, other) = two.login("dana", "a password").await;
    let other = other["token"].as_str().expect("token").to_string();
    let mut on_one = Stomp::connect(&one, &dana.token).await;
    on_one.subscribe("n", NOTIFICATIONS).await;
    let mut on_two = Stomp::connect(&two, &other).await;
    on_two.subscribe("n", NOTIFICATIONS).await;
    until_listening(&one, 1).await;
    until_listening(&two, 1).await;

    let (status, _) = one
        .request(Method::POST, "/api/logout/all", Some(&dana.token), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(closed_with(&mut on_one).await, "unauthorized");
    assert_eq!(closed_with(&mut on_two).await, "unauthorized");
    for (node, token) in [(&one, &dana.token), (&two, &other), (&two, &dana.token)] {
        assert_eq!(node.get("/api/me", Some(token)).await.0, 401);
    }
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let server = TestServer::spawn_with(|c| c.limits.failed_logins_per_user = 2).await;
    let dana = server.password_user("dana", "a password").await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            code(&change_password(&server, &dana.token, "guess", "new password").await)
                .1
                .to_string(),
        );
    }
    assert_eq!(codes, ["wrong_password", "wrong_password", "rate_limited"]);
}

/// Waits until `node` listens on Redis for at least `users` users: from then on, what the
/// other node publishes to them reaches it.
async fn until_listening(node: &TestServer, users: i64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while node.metric("sotong_redis_subscribed_users").await < users {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not subscribe to {users} user channels in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
