//! Accounts: password and JWT identities stay apart, sign-up can be closed, wrong credentials
//! have their own answer, JWT `nbf` is honoured, and names people read cannot hide or reorder
//! text.

use serde_json::{json, Value};
use sotong_server::config::Registration;
use sotong_testkit::{jwt, TestServer, JWT_SECRET};

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

#[tokio::test]
async fn a_name_registered_first_never_becomes_the_jwt_user_of_that_name() {
    let server = TestServer::spawn().await;
    // The attacker takes "carol" before the application's carol ever signs in.
    assert_eq!(server.register("carol", "attacker-pw").await.0, 201);
    let dave = server.user("dave").await;

    // carol's JWT from the application is refused: it never signs into the password account.
    let (status, err) = server.get("/api/me", Some(&jwt("carol", 600))).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("identity_conflict")),
        "{err}"
    );
    let mut ws = sotong_testkit::Stomp::open(&server).await;
    ws.send_frame(
        sotong_stomp::Frame::new(sotong_stomp::Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("Authorization", format!("Bearer {}", jwt("carol", 600))),
    )
    .await;
    let refused = ws.next().await.expect("an answer to CONNECT");
    assert_eq!(refused.command, sotong_stomp::Command::Error);

    // Whatever dave sends to "carol" goes to the attacker's own account, never to a merged
    // one; and nothing the application's carol would have had is reachable with the password.
    let (_, attacker) = server.login("carol", "attacker-pw").await;
    let token = attacker["token"].as_str().expect("token").to_string();
    let (status, rooms) = server.get("/api/rooms", Some(&token)).await;
    assert_eq!((status, rooms), (200, json!([])));
    let (status, me) = server.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
    let (status, dave_me) = server.get("/api/me", Some(&dave.token)).await;
    assert_eq!(status, 200);
    assert_ne!(me["id"], dave_me["id"]);
}

#[tokio::test]
async fn a_jwt_account_has_no_password_and_its_name_cannot_be_registered() {
    let server = TestServer::spawn().await;
    let erin = server.user("erin").await;
    let (status, err) = server.register("erin", "password1").await;
    assert_eq!((status, err["error"].as_str()), (409, Some("conflict")));
    for guess in ["password1", "", "anything at all"] {
        let (status, err) = server.login("erin", guess).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("invalid_credentials")),
            "{err}"
        );
    }
    let (status, _) = server.get("/api/me", Some(&erin.token)).await;
    assert_eq!(status, 200, "the JWT still works");
}

#[tokio::test]
async fn wrong_credentials_have_their_own_code_and_do_not_say_which_part_was_wrong() {
    let server = TestServer::spawn().await;
    assert_eq!(server.register("frank", "right-password").await.0, 201);
    let wrong_password = server.login("frank", "wrong-password").await;
    let unknown_user = server.login("nobody", "wrong-password").await;
    let expected = (
        401,
        json!({"error": "invalid_credentials", "message": "wrong username or password"}),
    );
    assert_eq!(wrong_password, expected);
    assert_eq!(unknown_user, expected);
    assert_eq!(server.login("Frank", "right-password").await.0, 200);
}

#[tokio::test]
async fn closed_registration_refuses_sign_up_and_is_the_default_with_a_jwt_secret() {
    let closed = TestServer::spawn_with(|c| c.registration = Some(Registration::Closed)).await;
    let (status, err) = closed.register("grace", "password1").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (403, Some("registration_closed")),
        "{err}"
    );
    // JWT users still sign in.
    closed.user("grace").await;

    let jwt_default = TestServer::spawn_with(|c| c.registration = None).await;
    assert_eq!(jwt_default.register("heidi", "password1").await.0, 403);

    let password_only = TestServer::spawn_with(|c| {
        c.registration = None;
        c.jwt_secret = None;
    })
    .await;
    assert_eq!(password_only.register("heidi", "password1").await.0, 201);
}

#[tokio::test]
async fn a_jwt_is_not_accepted_before_its_nbf() {
    let server = TestServer::spawn().await;
    let exp = now() + 3600;
    let not_yet = signed(json!({"sub": "ivan", "exp": exp, "nbf": now() + 600}));
    let (status, err) = server.get("/api/me", Some(&not_yet)).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("unauthorized")));
    // The same leeway as exp (30 s) absorbs clock skew between the two servers.
    let skewed = signed(json!({"sub": "ivan", "exp": exp, "nbf": now() + 10}));
    assert_eq!(server.get("/api/me", Some(&skewed)).await.0, 200);
    let valid = signed(json!({"sub": "ivan", "exp": exp, "nbf": now() - 10}));
    assert_eq!(server.get("/api/me", Some(&valid)).await.0, 200);
}

#[tokio::test]
async fn names_are_normalised_and_invisible_or_reordering_ones_refused() {
    let server = TestServer::spawn().await;
    let (status, user) = server
        .post(
            "/api/register",
            None,
            json!({"username": "judy", "password": "password1", "displayName": "  Ju\u{200B}dy   Ｋ "}),
        )
        .await;
    assert_eq!(
        (status, user["displayName"].as_str()),
        (201, Some("Judy K"))
    );
    for bad in [
        "\u{200B}\u{200B}",
        "\u{3164}",
        "evil\u{202E}gnp.exe",
        "a\u{2067}b",
        // A Cyrillic `А` passing for Alice.
        "\u{410}lice",
    ] {
        let (status, err) = server
            .post(
                "/api/register",
                None,
                json!({"username": "mallory", "password": "password1", "displayName": bad}),
            )
            .await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid")),
            "{bad:?}"
        );
    }

    // The same rules for a JWT's name claim.
    let styled = signed(json!({"sub": "kim", "name": "𝐊𝐢𝐦", "exp": now() + 600}));
    let (status, me) = server.get("/api/me", Some(&styled)).await;
    assert_eq!((status, me["displayName"].as_str()), (200, Some("Kim")));
    let hidden = signed(json!({"sub": "kim", "name": "\u{2060}", "exp": now() + 600}));
    assert_eq!(server.get("/api/me", Some(&hidden)).await.0, 401);

    // And for group names.
    let kim = styled;
    let (status, err) = server
        .post(
            "/api/rooms",
            Some(&kim),
            json!({"name": "team\u{202E}", "members": ["judy"]}),
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid")));
    let (status, room) = server
        .post(
            "/api/rooms",
            Some(&kim),
            json!({"name": "  Team \u{200B}  A ", "members": ["judy"]}),
        )
        .await;
    assert_eq!((status, room["name"].as_str()), (201, Some("Team A")));
    // Display names are not unique, so every user object carries the username too.
    for member in room["members"].as_array().expect("members") {
        assert!(member["username"].is_string(), "{member}");
    }
    let id = room["id"].as_i64().expect("id");
    let (status, message) = server
        .post(
            &format!("/api/rooms/{id}/messages"),
            Some(&kim),
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(message["sender"]["username"], "kim");
}
