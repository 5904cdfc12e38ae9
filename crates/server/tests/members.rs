//! Group members and names, on SQLite and on PostgreSQL: renaming a group (members only, groups
//! only, names checked like at creation) reaches every member live as a `room` notification on
//! each of its connections, whatever room they show, and on another node; members added and
//! members who leave are heard of live by the others the same way.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::Frame;
use sotong_testkit::*;

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

const NOTIFICATIONS: &str = "/user/queue/notifications";

on_both_stores!(
    a_rename_reaches_every_member_on_each_connection,
    renames_are_refused_to_non_members_direct_rooms_and_bad_names,
    adds_and_leaves_reach_the_other_members_live,
);

async fn rename(server: &TestServer, user: &TestUser, room: i64, name: &str) -> (u16, Value) {
    server
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}"),
            Some(&user.token),
            Some(json!({ "name": name })),
        )
        .await
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or(""))
}

/// Whether `frame` is a `room` notification about `room`.
fn is_room_event(frame: &Frame, room: i64) -> bool {
    let body = body(frame);
    body["type"] == "room" && body["room"]["id"] == room
}

/// The usernames of a room object's members, sorted.
fn member_names(room: &Value) -> Vec<String> {
    let mut names: Vec<String> = room["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["username"].as_str().expect("username").to_string())
        .collect();
    names.sort();
    names
}

async fn a_rename_reaches_every_member_on_each_connection(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "Team", &[&bob]).await;

    // Bob shows the room on one connection and only his room list on another.
    let mut viewing = Stomp::connect(&server, &bob.token).await;
    viewing.subscribe("t", &topic(room)).await;
    viewing.subscribe("n", NOTIFICATIONS).await;
    let mut listing = Stomp::connect(&server, &bob.token).await;
    listing.subscribe("n", NOTIFICATIONS).await;
    let mut renamer = Stomp::connect(&server, &alice.token).await;
    renamer.subscribe("n", NOTIFICATIONS).await;

    let (status, renamed) = rename(&server, &alice, room, "  Launch   crew ").await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(
        renamed["name"], "Launch crew",
        "normalised like at creation"
    );
    assert_eq!(renamed["kind"], "group");

    for socket in [&mut viewing, &mut listing, &mut renamer] {
        let frames = socket.until(|f| is_room_event(f, room)).await;
        let event = frames.last().expect("the room event");
        assert_eq!(event.header("destination"), Some(NOTIFICATIONS));
        assert_eq!(body(event)["room"]["name"], "Launch crew");
        assert_eq!(member_names(&body(event)["room"]), ["alice", "bob"]);
    }
    let (_, seen) = server
        .get(&format!("/api/rooms/{room}"), Some(&bob.token))
        .await;
    assert_eq!(seen["name"], "Launch crew");
}

async fn renames_are_refused_to_non_members_direct_rooms_and_bad_names(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let group = server.group(&alice, "Team", &[&bob]).await;
    let direct = server.direct(&alice, &bob).await;

    assert_eq!(
        code(&rename(&server, &mallory, group, "Mine now").await),
        (403, "forbidden")
    );
    assert_eq!(
        code(&rename(&server, &alice, direct, "Us two").await),
        (400, "invalid")
    );
    for bad in ["", "   ", "\u{202E}evil", "\u{200B}", &"x".repeat(200)] {
        assert_eq!(
            code(&rename(&server, &alice, group, bad).await),
            (400, "invalid"),
            "{bad:?}"
        );
    }
    assert_eq!(
        code(&rename(&server, &alice, 999_999, "Nowhere").await),
        (404, "not_found")
    );
    let (status, _) = server
        .request(
            Method::PATCH,
            &format!("/api/rooms/{group}"),
            Some(&alice.token),
            Some(json!({ "title": "no name field" })),
        )
        .await;
    assert_eq!(status, 400);

    // Bob leaves: from then on he may not rename it.
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{group}/members/me"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        code(&rename(&server, &bob, group, "After leaving").await),
        (403, "forbidden")
    );
    let (_, room) = server
        .get(&format!("/api/rooms/{group}"), Some(&alice.token))
        .await;
    assert_eq!(room["name"], "Team", "no refused rename took effect");
}

async fn adds_and_leaves_reach_the_other_members_live(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "Team", &[&bob]).await;
    let mut bob_socket = Stomp::connect(&server, &bob.token).await;
    bob_socket.subscribe("t", &topic(room)).await;
    bob_socket.subscribe("n", NOTIFICATIONS).await;
    let mut carol_socket = Stomp::connect(&server, &carol.token).await;
    carol_socket.subscribe("n", NOTIFICATIONS).await;

    let (status, added) = server
        .post(
            &format!("/api/rooms/{room}/members"),
            Some(&alice.token),
            json!({ "members": ["carol"] }),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    // Bob hears of the new member; Carol hears of her new room.
    let frames = bob_socket.until(|f| is_room_event(f, room)).await;
    let event = body(frames.last().expect("room event"));
    assert_eq!(member_names(&event["room"]), ["alice", "bob", "carol"]);
    let frames = carol_socket.until(|f| is_room_event(f, room)).await;
    let event = body(frames.last().expect("room event"));
    assert_eq!(event["room"]["name"], "Team");

    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&carol.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let frames = bob_socket.until(|f| is_room_event(f, room)).await;
    let event = body(frames.last().expect("room event"));
    assert_eq!(member_names(&event["room"]), ["alice", "bob"]);
}

#[tokio::test]
async fn a_rename_on_one_node_reaches_a_member_on_the_other() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.group(&alice, "Team", &[&bob]).await;
    let mut on_two = Stomp::connect(&two, &bob.token).await;
    on_two.subscribe("n", NOTIFICATIONS).await;
    let mut also_on_two = Stomp::connect(&two, &bob.token).await;
    also_on_two.subscribe("t", &topic(room)).await;
    also_on_two.subscribe("n", NOTIFICATIONS).await;
    until_listening(&two, 1).await;

    let (status, _) = rename(&one, &alice, room, "Across nodes").await;
    assert_eq!(status, 200);
    for socket in [&mut on_two, &mut also_on_two] {
        let frames = socket.until(|f| is_room_event(f, room)).await;
        assert_eq!(
            body(frames.last().expect("room event"))["room"]["name"],
            "Across nodes"
        );
    }
}

#[tokio::test]
async fn renames_share_the_members_added_budget() {
    let server = TestServer::spawn_with(|c| c.limits.members_added_per_hour = 2).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "Team", &[&bob]).await;
    let mut answers = Vec::new();
    for name in ["One", "Two", "Three"] {
        answers.push(rename(&server, &alice, room, name).await.0);
    }
    assert!(answers.contains(&429), "{answers:?}");
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
