//! The HTTP API of the contract: accounts, users, rooms, members, history, errors.

use reqwest::Method;
use serde_json::json;
use sotong_testkit::*;

#[tokio::test]
async fn register_login_me_and_validation() {
    let server = TestServer::spawn().await;
    let (status, user) = server
        .post(
            "/api/register",
            None,
            json!({"username": "Min.Ji", "password": "password1", "displayName": "민지"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["username"], "min.ji");
    assert_eq!(user["displayName"], "민지");
    assert!(user["id"].is_i64());

    for (body, code) in [
        (json!({"username": "min.ji", "password": "password2"}), 409),
        (json!({"username": "MIN.JI", "password": "password2"}), 409),
        (json!({"username": "ab", "password": "password1"}), 400),
        (
            json!({"username": "has space", "password": "password1"}),
            400,
        ),
        (json!({"username": "valid_name", "password": "short"}), 400),
        (json!({"username": "valid_name"}), 400),
        (json!("not an object"), 400),
    ] {
        let (status, err) = server.post("/api/register", None, body.clone()).await;
        assert_eq!(status, code, "{body} -> {err}");
        assert!(
            err["error"].is_string() && err["message"].is_string(),
            "{err}"
        );
    }
    let (status, err) = server
        .post(
            "/api/register",
            None,
            json!({"username": "ab", "password": "password1"}),
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid")));

    let (status, login) = server
        .post(
            "/api/login",
            None,
            json!({"username": "min.ji", "password": "password1"}),
        )
        .await;
    assert_eq!(status, 200);
    let token = login["token"].as_str().expect("token");
    assert_eq!(login["user"], user);
    let (status, me) = server.get("/api/me", Some(token)).await;
    // The user, plus the caller's own settings (sotong: `presenceVisible`).
    let mut expected = user.clone();
    expected["presenceVisible"] = serde_json::Value::Bool(true);
    assert_eq!((status, &me), (200, &expected));

    let (status, err) = server
        .post(
            "/api/login",
            None,
            json!({"username": "nobody", "password": "password1"}),
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    for token in [None, Some("garbage"), Some("a.b.c")] {
        let (status, err) = server.get("/api/me", token).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}"
        );
    }
    let (status, err) = server.get("/api/me", Some(&jwt("alice", -120))).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("token_expired"))
    );
}

#[tokio::test]
async fn jwt_users_are_created_on_first_use_with_their_name() {
    let server = TestServer::spawn().await;
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "Ext_User", "name": "External Person", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("jwt");
    let (status, me) = server.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "ext_user");
    assert_eq!(me["displayName"], "External Person");
    // No exp: refused.
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "someone"}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("jwt");
    assert_eq!(server.get("/api/me", Some(&no_exp)).await.0, 401);
}

#[tokio::test]
async fn user_search_by_prefix() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    for name in ["bob", "bobby", "boris", "carol"] {
        server.user(name).await;
    }
    let (status, users) = server.get("/api/users?q=bo", Some(&alice.token)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = users
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, vec!["bob", "bobby", "boris"]);
    let (_, users) = server.get("/api/users?q=B%25", Some(&alice.token)).await;
    assert_eq!(users, json!([]), "wildcards are literal");
    for i in 0..25 {
        server.user(&format!("many{i:02}")).await;
    }
    let (_, users) = server.get("/api/users?q=many", Some(&alice.token)).await;
    assert_eq!(users.as_array().map(Vec::len), Some(20));
}

#[tokio::test]
async fn direct_rooms_are_one_per_pair_whoever_asks() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (status, first) = server
        .post(
            "/api/rooms/direct",
            Some(&alice.token),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["name"], "bob");
    assert_eq!(first["unread"], 0);
    assert_eq!(first["lastMessage"], serde_json::Value::Null);
    let (status, again) = server
        .post(
            "/api/rooms/direct",
            Some(&bob.token),
            json!({"username": "ALICE"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["name"], "alice",
        "named after the other member, per viewer"
    );
    let (status, _) = server
        .post(
            "/api/rooms/direct",
            Some(&alice.token),
            json!({"username": "alice"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .post(
            "/api/rooms/direct",
            Some(&alice.token),
            json!({"username": "ghost"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn groups_members_listing_and_access() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let eve = server.user("eve").await;
    let (status, group) = server
        .post(
            "/api/rooms",
            Some(&alice.token),
            json!({"name": "  Weekend  ", "members": ["bob", "bob", "alice"]}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(group["name"], "Weekend");
    assert_eq!(group["kind"], "group");
    assert_eq!(group["members"].as_array().map(Vec::len), Some(2));
    let id = group["id"].as_i64().expect("id");
    let direct = server.direct(&alice, &carol).await;

    for (body, code) in [
        (json!({"name": "", "members": []}), 400),
        (json!({"name": "x", "members": ["ghost"]}), 404),
        (json!({"members": []}), 400),
    ] {
        assert_eq!(
            server.post("/api/rooms", Some(&alice.token), body).await.0,
            code
        );
    }

    // Latest activity first.
    server.post_message(&alice, id, "newest").await;
    let (_, rooms) = server.get("/api/rooms", Some(&alice.token)).await;
    let ids: Vec<i64> = rooms
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![id, direct]);
    assert_eq!(rooms[0]["lastMessage"]["text"], "newest");
    let (_, bobs) = server.get("/api/rooms", Some(&bob.token)).await;
    assert_eq!(bobs[0]["unread"], 1);

    // Access: a non-member sees nothing of the room.
    assert_eq!(
        server
            .get(&format!("/api/rooms/{id}"), Some(&eve.token))
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .get(&format!("/api/rooms/{id}/messages"), Some(&eve.token))
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .post(
                &format!("/api/rooms/{id}/messages"),
                Some(&eve.token),
                json!({"text": "hi"})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .post(
                &format!("/api/rooms/{id}/read"),
                Some(&eve.token),
                json!({"seq": 1})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .post(
                &format!("/api/rooms/{id}/members"),
                Some(&eve.token),
                json!({"members": ["eve"]})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        server.get("/api/rooms/424242", Some(&alice.token)).await.0,
        404
    );
    assert_eq!(
        server
            .get("/api/rooms/not-a-number", Some(&alice.token))
            .await
            .0,
        404
    );
    let (_, eves) = server.get("/api/rooms", Some(&eve.token)).await;
    assert_eq!(eves, json!([]));

    // Members: groups only; leaving ends access.
    let (status, room) = server
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&bob.token),
            json!({"members": ["carol"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(room["members"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        server
            .post(
                &format!("/api/rooms/{direct}/members"),
                Some(&alice.token),
                json!({"members": ["bob"]})
            )
            .await
            .0,
        400
    );
    assert_eq!(
        server
            .request(
                Method::DELETE,
                &format!("/api/rooms/{direct}/members/me"),
                Some(&alice.token),
                None
            )
            .await
            .0,
        400
    );
    assert_eq!(
        server
            .request(
                Method::DELETE,
                &format!("/api/rooms/{id}/members/me"),
                Some(&carol.token),
                None
            )
            .await
            .0,
        204
    );
    assert_eq!(
        server
            .get(&format!("/api/rooms/{id}"), Some(&carol.token))
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .request(
                Method::DELETE,
                &format!("/api/rooms/{id}/members/me"),
                Some(&carol.token),
                None
            )
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn history_pages_by_seq() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for i in 1..=210 {
        server.post_message(&alice, room, &format!("m{i}")).await;
    }
    let seqs = |page: &[serde_json::Value]| {
        page.iter()
            .map(|m| m["seq"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(&server.history(&bob, room, "").await),
        (161..=210).collect::<Vec<_>>(),
        "newest page of 50"
    );
    assert_eq!(
        seqs(&server.history(&bob, room, "?before=71&limit=20").await),
        (51..=70).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&server.history(&bob, room, "?after=100").await),
        (101..=150).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&server.history(&bob, room, "?after=10&limit=5").await),
        (11..=15).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&server.history(&bob, room, "?after=10&before=14").await),
        vec![11, 12, 13]
    );
    assert_eq!(
        seqs(&server.history(&bob, room, "?limit=1000").await),
        (11..=210).collect::<Vec<_>>(),
        "clamped to 200"
    );
    assert_eq!(server.history(&bob, room, "?after=210").await.len(), 0);
    let (status, err) = server
        .get(
            &format!("/api/rooms/{room}/messages?before=abc"),
            Some(&bob.token),
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid")));
    let m = &server.history(&bob, room, "?after=0&limit=1").await[0];
    assert_eq!(m["sender"]["username"], "alice");
    assert_eq!(m["roomId"], room);
    assert!(m["sentAt"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && s.contains('T')));
    assert_eq!(m["clientMsgId"], serde_json::Value::Null);
}

#[tokio::test]
async fn message_validation_over_http() {
    let server = TestServer::spawn_with(|c| c.limits.max_message_chars = 5).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let path = format!("/api/rooms/{room}/messages");
    assert_eq!(
        server
            .post(&path, Some(&alice.token), json!({"text": "안녕하세요"}))
            .await
            .0,
        201,
        "5 characters, not bytes"
    );
    let (status, err) = server
        .post(&path, Some(&alice.token), json!({"text": "123456"}))
        .await;
    assert_eq!((status, err["error"].as_str()), (413, Some("too_large")));
    assert_eq!(
        server
            .post(&path, Some(&alice.token), json!({"text": ""}))
            .await
            .0,
        400
    );
    assert_eq!(
        server.post(&path, Some(&alice.token), json!({})).await.0,
        400
    );
    assert_eq!(server.history(&alice, room, "").await.len(), 1);
}

/// Redis down (nothing listens on port 1): the node serves its own connections, so it stays in
/// service, degraded, and says which part is missing.
#[tokio::test]
async fn health_is_degraded_without_redis_and_the_node_still_serves() {
    let server = TestServer::spawn_with(|config| {
        config.redis_url = Some("redis://127.0.0.1:1".into());
    })
    .await;
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"status": "degraded", "store": "ok", "broker": "unreachable"})
    );
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;
    server.post_message(&alice, room, "still here").await;
    b.until(|f| carries_text(f, "still here")).await;
    b.close().await;
    server.stop().await;
}

#[tokio::test]
async fn health_metrics_openapi_and_the_web_placeholder() {
    let server = TestServer::spawn().await;
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"status": "ok", "store": "ok", "broker": "ok"}),
        "the memory broker is always reachable"
    );
    let (status, doc) = server.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/users",
        "/api/rooms",
        "/api/rooms/direct",
        "/api/rooms/{id}",
        "/api/rooms/{id}/members",
        "/api/rooms/{id}/members/me",
        "/api/rooms/{id}/messages",
        "/api/rooms/{id}/messages/{seq}/reactions/{emoji}",
        "/api/rooms/{id}/read",
        "/api/rooms/{id}/reads",
        "/api/rooms/{id}/attachments",
        "/api/attachments/{id}",
        "/api/attachments/{id}/thumbnail",
        "/healthz",
        "/metrics",
        "/ws",
    ] {
        assert!(paths.contains_key(path), "OpenAPI documents {path}");
    }
    let resp = server
        .http
        .get(server.url("/"))
        .send()
        .await
        .expect("index");
    assert!(resp.headers().get("content-security-policy").is_some());
    assert!(resp.text().await.expect("text").contains("sotong"));
}
