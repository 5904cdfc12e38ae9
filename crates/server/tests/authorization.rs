//! The authorization matrix: every room endpoint and destination, for a member, a non-member,
//! a former member, no token and an expired token. Nobody outside a room can read it, post to
//! it, subscribe to it, or learn its members, by any path.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Member,
    Stranger,
    Former,
    NoToken,
    Expired,
}

#[tokio::test]
async fn http_matrix() {
    let server = TestServer::spawn().await;
    let owner = server.user("owner").await;
    let member = server.user("member").await;
    let stranger = server.user("stranger").await;
    let former = server.user("former").await;
    server.user("newbie").await;
    let room = server.group(&owner, "private", &[&member, &former]).await;
    server.post_message(&owner, room, "secret").await;
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&former.token),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let expired = jwt("member", -3600);
    let endpoints: Vec<(Method, String, Option<Value>, u16)> = vec![
        (Method::GET, format!("/api/rooms/{room}"), None, 200),
        (
            Method::GET,
            format!("/api/rooms/{room}/messages"),
            None,
            200,
        ),
        (
            Method::GET,
            format!("/api/rooms/{room}/messages?after=0"),
            None,
            200,
        ),
        (
            Method::GET,
            format!("/api/rooms/{room}/messages?before=99"),
            None,
            200,
        ),
        (
            Method::POST,
            format!("/api/rooms/{room}/messages"),
            Some(json!({"text": "hi"})),
            201,
        ),
        (
            Method::POST,
            format!("/api/rooms/{room}/read"),
            Some(json!({"seq": 1})),
            204,
        ),
        (
            Method::POST,
            format!("/api/rooms/{room}/members"),
            Some(json!({"members": ["newbie"]})),
            200,
        ),
    ];
    for who in [
        Who::Member,
        Who::Stranger,
        Who::Former,
        Who::NoToken,
        Who::Expired,
    ] {
        let token = match who {
            Who::Member => Some(member.token.as_str()),
            Who::Stranger => Some(stranger.token.as_str()),
            Who::Former => Some(former.token.as_str()),
            Who::NoToken => None,
            Who::Expired => Some(expired.as_str()),
        };
        for (method, path, body, ok) in &endpoints {
            let (status, answer) = server
                .request(method.clone(), path, token, body.clone())
                .await;
            let expected = match who {
                Who::Member => *ok,
                Who::Stranger | Who::Former => 403,
                Who::NoToken | Who::Expired => 401,
            };
            assert_eq!(status, expected, "{who:?} {method} {path}: {answer}");
            if expected >= 400 {
                let text = answer.to_string();
                assert!(
                    !text.contains("secret") && !text.contains("owner"),
                    "{who:?} {path} leaks: {text}"
                );
            }
        }
        if let Some(token) = token.filter(|_| matches!(who, Who::Stranger | Who::Former)) {
            let (status, answer) = server
                .request(
                    Method::DELETE,
                    &format!("/api/rooms/{room}/members/me"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(status, 403, "{who:?} leave: {answer}");
            let (_, rooms) = server.get("/api/rooms", Some(token)).await;
            assert!(
                !rooms.to_string().contains("private"),
                "{who:?} lists the room: {rooms}"
            );
        }
    }
    // Unknown rooms look the same to everyone: 404, not 403, and no detail.
    let (status, _) = server
        .get("/api/rooms/987654/messages", Some(&stranger.token))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn stomp_matrix() {
    let server = TestServer::spawn().await;
    let owner = server.user("owner").await;
    let member = server.user("member").await;
    let stranger = server.user("stranger").await;
    let former = server.user("former").await;
    let room = server.group(&owner, "private", &[&member, &former]).await;
    server.post_message(&owner, room, "secret 1").await;

    // A former member still connected while leaving, and a stranger, both listening everywhere.
    let mut watchers = Vec::new();
    for user in [&stranger, &former] {
        let mut c = Stomp::connect(&server, &user.token).await;
        c.subscribe("n", "/user/queue/notifications").await;
        c.subscribe("e", "/user/queue/errors").await;
        watchers.push(c);
    }
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&former.token),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let topic = format!("/topic/rooms/{room}");
    for c in watchers.iter_mut() {
        let attempts = [
            Frame::new(Command::Subscribe)
                .with_header("id", "a")
                .with_header("destination", topic.as_str()),
            Frame::new(Command::Subscribe)
                .with_header("id", "b")
                .with_header("destination", topic.as_str())
                .with_header("since-seq", "0"),
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_body(b"{\"text\":\"intrude\"}".to_vec()),
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}/typing")),
            Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}/read"))
                .with_body(b"{\"seq\":1}".to_vec()),
        ];
        for (i, frame) in attempts.into_iter().enumerate() {
            let receipt = format!("x{i}");
            c.send_frame(frame.with_header("receipt", receipt.clone()))
                .await;
            let frames = c
                .until(|f| is_error_for(f, &receipt) || is_receipt(f, &receipt))
                .await;
            let last = frames.last().expect("answer");
            assert_eq!(
                body(last)["code"],
                "forbidden",
                "attempt {i}: {}",
                body_text(last)
            );
            assert!(
                frames.iter().all(|f| !body_text(f).contains("secret")),
                "attempt {i} leaked"
            );
        }
    }
    // Members keep talking; outsiders hear nothing of it, not even as notifications.
    server.post_message(&owner, room, "secret 2").await;
    let marker_room = server.direct(&owner, &stranger).await;
    let former_room = server.direct(&owner, &former).await;
    server.post_message(&owner, marker_room, "marker").await;
    server.post_message(&owner, former_room, "marker").await;
    for c in watchers.iter_mut() {
        let frames = c.until(|f| carries_text(f, "marker")).await;
        for f in &frames {
            assert!(!body_text(f).contains("secret"), "leaked: {}", body_text(f));
            if body(f)["type"] == "room" {
                assert_ne!(
                    body(f)["room"]["id"],
                    room,
                    "room details leaked: {}",
                    body_text(f)
                );
            }
        }
    }
    assert!(server
        .history(&member, room, "")
        .await
        .iter()
        .all(|m| m["text"] != "intrude"));

    // No token, or an expired one: no connection at all.
    for token in [String::new(), jwt("member", -3600)] {
        let mut c = Stomp::open(&server).await;
        let mut connect = Frame::new(Command::Connect).with_header("accept-version", "1.2");
        if !token.is_empty() {
            connect = connect.with_header("Authorization", format!("Bearer {token}"));
        }
        c.send_frame(connect).await;
        let frame = c.next().await.expect("ERROR");
        assert_eq!(frame.command, Command::Error);
        assert!(matches!(
            frame.header("message"),
            Some("unauthorized" | "token_expired")
        ));
        assert!(c.next().await.is_none());
    }
}
