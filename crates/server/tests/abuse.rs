//! Abuse: password guessing that neither races past its budget nor locks the owner out, one
//! message budget per user over STOMP and HTTP alike, limits on rooms and members one user can
//! create for others, a paged room list, and read marks whose cost does not grow with history.

use serde_json::{json, Value};
use sotong_server::model::{RoomId, Seq, User};
use sotong_server::store::sqlite::SqliteStore;
use sotong_server::store::{NewMessage, Store};
use sotong_testkit::{is_error_for, is_receipt, Stomp, TestServer, TestUser};
use std::net::IpAddr;
use std::time::{Duration, Instant};

async fn register(server: &TestServer, username: &str, password: &str) {
    let (status, body) = server.register(username, password).await;
    assert_eq!(status, 201, "{body}");
}

/// An HTTP client whose connections come from `local` (any of 127.0.0.0/8 on Linux).
fn client_from(local: &str) -> reqwest::Client {
    let ip: IpAddr = local.parse().expect("ip");
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .expect("client")
}

/// A response's status, JSON body and `Retry-After` header.
async fn answer(resp: reqwest::Response) -> (u16, Value, Option<String>) {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

async fn login_from(
    client: &reqwest::Client,
    server: &TestServer,
    username: &str,
    password: &str,
) -> (u16, Value, Option<String>) {
    let resp = client
        .post(server.url("/api/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login");
    answer(resp).await
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_all_counted_before_they_are_checked() {
    let server = TestServer::spawn().await;
    register(&server, "victim", "the right one").await;
    let client = client_from("127.0.0.1");
    let guesses = (0..50).map(|i| {
        let client = client.clone();
        let server = &server;
        async move { login_from(&client, server, "victim", &format!("guess {i}")).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    let throttled = answers
        .iter()
        .filter(|a| a.0 == 429 && a.1["error"] == "rate_limited" && a.2.is_some())
        .count();
    assert!(
        checked <= 10,
        "{checked} guesses were checked; the budget is 10"
    );
    assert_eq!(checked + throttled, 50, "{answers:?}");
}

#[tokio::test]
async fn a_guesser_elsewhere_does_not_lock_the_owner_out() {
    let server = TestServer::spawn().await;
    register(&server, "victim", "the right one").await;
    let attacker = client_from("127.0.0.2");
    let owner = client_from("127.0.0.3");
    let mut last = (0, Value::Null, None);
    for i in 0..12 {
        last = login_from(&attacker, &server, "victim", &format!("guess {i}")).await;
    }
    assert_eq!(
        last.0, 429,
        "the attacker's address is slowed down: {last:?}"
    );
    let retry: u64 = last.2.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password from the attacker's address waits its turn...
    let (status, _, _) = login_from(&attacker, &server, "victim", "the right one").await;
    assert_eq!(status, 429);
    // ...while the owner, elsewhere, gets in at once.
    let (status, body, _) = login_from(&owner, &server, "victim", "the right one").await;
    assert_eq!(status, 200, "{body}");
}

/// Posts over HTTP; the status, the error code and the `Retry-After` header.
async fn post_over_http(
    server: &TestServer,
    user: &TestUser,
    room: i64,
    text: &str,
) -> (u16, Value, Option<String>) {
    let resp = server
        .http
        .post(server.url(&format!("/api/rooms/{room}/messages")))
        .bearer_auth(&user.token)
        .json(&json!({"text": text}))
        .send()
        .await
        .expect("post");
    answer(resp).await
}

#[tokio::test]
async fn one_message_budget_per_user_covers_every_connection_and_http() {
    let server = TestServer::spawn_with(|c| {
        c.limits.send_rate_per_sec = 1;
        c.limits.send_burst = 10;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let started = Instant::now();
    // Half the burst on one connection, half on another.
    for (socket, range) in [(0, 0..5), (1, 5..10)] {
        let mut c = Stomp::connect(&server, &alice.token).await;
        c.subscribe("e", "/user/queue/errors").await;
        for i in range {
            c.send_text(room, &format!("m{i}"), &format!("r{i}")).await;
        }
        let last = format!("r{}", if socket == 0 { 4 } else { 9 });
        let frames = c
            .until(|f| is_receipt(f, &last) || is_error_for(f, &last))
            .await;
        assert!(frames.iter().any(|f| is_receipt(f, &last)), "{frames:?}");
    }
    // The burst is spent: HTTP posts get little more than the refill since.
    let mut accepted = 0u64;
    let mut refusal = None;
    for i in 0..50 {
        let (status, body, retry_after) =
            post_over_http(&server, &alice, room, &format!("h{i}")).await;
        match status {
            201 => accepted += 1,
            429 => {
                refusal = Some((body, retry_after));
                break;
            }
            other => panic!("{other} {body}"),
        }
    }
    let (body, retry_after) = refusal.expect("HTTP posts share the spent budget");
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let refilled = started.elapsed().as_secs() + 1;
    assert!(
        accepted <= refilled,
        "{accepted} accepted, {refilled} s of refill"
    );
    // A third connection finds the same empty budget.
    let mut c = Stomp::connect(&server, &alice.token).await;
    c.subscribe("e", "/user/queue/errors").await;
    for i in 0..3 {
        c.send_text(room, &format!("late{i}"), &format!("late{i}"))
            .await;
    }
    let frames = c
        .until(|f| is_receipt(f, "late2") || is_error_for(f, "late2"))
        .await;
    assert!(
        frames
            .iter()
            .any(|f| sotong_testkit::body(f)["code"] == "rate_limited"),
        "{frames:?}"
    );
}

async fn create_group(
    server: &TestServer,
    owner: &TestUser,
    name: &str,
    members: &[&str],
) -> (u16, Value) {
    server
        .post(
            "/api/rooms",
            Some(&owner.token),
            json!({"name": name, "members": members}),
        )
        .await
}

#[tokio::test]
async fn rooms_and_members_one_user_creates_for_others_are_limited() {
    let server = TestServer::spawn_with(|c| {
        c.limits.rooms_per_hour = 3;
        c.limits.members_added_per_hour = 5;
    })
    .await;
    let owner = server.user("owner").await;
    let mut names = Vec::new();
    for i in 0..7 {
        names.push(server.user(&format!("victim{i}")).await.username);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();

    // Four members (one room, four adds), then two more are one too many.
    let (status, group) = create_group(&server, &owner, "one", &names[..4]).await;
    assert_eq!(status, 201, "{group}");
    let id = group["id"].as_i64().expect("id");
    let (status, err) = server
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner.token),
            json!({"members": &names[4..6]}),
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (429, Some("rate_limited")));
    // More than the hourly budget at once can never succeed: too large, not "later".
    let (status, _) = create_group(&server, &owner, "big", &names[..6]).await;
    assert_eq!(status, 413);

    assert_eq!(
        create_group(&server, &owner, "two", &names[4..5]).await.0,
        201
    );
    // A new direct room counts as a new room...
    let victim = TestUser {
        id: 0,
        username: names[6].to_string(),
        token: sotong_testkit::jwt(names[6], 600),
    };
    assert_eq!(
        server
            .post(
                "/api/rooms/direct",
                Some(&owner.token),
                json!({"username": victim.username})
            )
            .await
            .0,
        201
    );
    // ...and the fourth room in the hour is refused, but an existing pair still opens.
    let (status, err) = create_group(&server, &owner, "four", &[]).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (429, Some("rate_limited")),
        "{err}"
    );
    let (status, err) = server
        .post(
            "/api/rooms/direct",
            Some(&owner.token),
            json!({"username": names[5]}),
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (429, Some("rate_limited")));
    let (status, _) = server
        .post(
            "/api/rooms/direct",
            Some(&owner.token),
            json!({"username": victim.username}),
        )
        .await;
    assert_eq!(status, 200, "reopening costs nothing");
    let (status, _) = server
        .post(
            "/api/rooms/direct",
            Some(&victim.token),
            json!({"username": "owner"}),
        )
        .await;
    assert_eq!(status, 200);
}

/// Builds, through the store, `rooms` groups of `user` with a message each.
async fn store_with_rooms(dir: &std::path::Path, username: &str, rooms: usize) -> User {
    let store = SqliteStore::open(dir).await.expect("store");
    let user = store.upsert_user(username, None).await.expect("user");
    for i in 0..rooms {
        let room = store
            .create_group(&format!("g{i}"), user.id, &[])
            .await
            .expect("group");
        store
            .insert_message(NewMessage {
                room_id: room,
                sender: user.clone(),
                text: format!("in g{i}"),
                client_msg_id: None,
                reply_to: None,
                mentions: Vec::new(),
                attachments: Vec::new(),
            })
            .await
            .expect("message");
    }
    store.close().await;
    user
}

fn next_link(resp: &reqwest::Response) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(link[start..end].to_string())
}

#[tokio::test]
async fn the_room_list_comes_in_pages_of_at_most_200() {
    let dir = tempfile::tempdir().expect("dir");
    store_with_rooms(dir.path(), "busy", 205).await;
    let server = TestServer::spawn_in(dir, |_| {}).await;
    let token = sotong_testkit::jwt("busy", 600);

    let get = |path: String| {
        let req = server.http.get(server.url(&path)).bearer_auth(&token);
        async move { req.send().await.expect("rooms") }
    };
    let first = get("/api/rooms?limit=1000".into()).await;
    assert_eq!(first.status(), 200);
    let next = next_link(&first).expect("a next page");
    let first: Vec<Value> = first.json().await.expect("json");
    assert_eq!(first.len(), 200, "the default and largest page");
    let rest = get(next).await;
    assert!(next_link(&rest).is_none(), "the last page has no next");
    let rest: Vec<Value> = rest.json().await.expect("json");
    assert_eq!(rest.len(), 5);

    // Small pages walk the whole list once, latest activity first.
    let mut seen = Vec::new();
    let mut path = Some("/api/rooms?limit=60".to_string());
    while let Some(p) = path {
        let resp = get(p).await;
        path = next_link(&resp);
        let page: Vec<Value> = resp.json().await.expect("json");
        assert!(page.len() <= 60);
        seen.extend(page.iter().map(|r| r["id"].as_i64().expect("id")));
    }
    let all: Vec<i64> = first
        .iter()
        .chain(&rest)
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(seen, all);
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        seen, sorted,
        "each room's message made the newest room first"
    );

    let resp = get("/api/rooms?before=garbage".into()).await;
    assert_eq!(resp.status(), 400);
}

/// Stores `count` messages in `room` by `sender`, in batches as the group commit does.
async fn fill(store: &SqliteStore, room: RoomId, sender: &User, count: usize) {
    for start in (0..count).step_by(500) {
        let batch = (start..(start + 500).min(count))
            .map(|i| NewMessage {
                room_id: room,
                sender: sender.clone(),
                text: format!("message {i}"),
                client_msg_id: None,
                reply_to: None,
                mentions: Vec::new(),
                attachments: Vec::new(),
            })
            .collect();
        for result in store.insert_messages(batch).await.expect("batch") {
            result.expect("stored");
        }
    }
}

/// Read marks on a long room cost what they cost on a short one. A measurement more than a
/// check (timings on a shared machine are noisy), so it runs on request:
/// `cargo test -p sotong-server --test abuse -- --ignored --nocapture` (prints to stderr).
#[tokio::test]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn read_marks_do_not_get_slower_with_history() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    let a = store.upsert_user("reader", None).await.expect("a");
    let b = store.upsert_user("writer", None).await.expect("b");
    let c = store.upsert_user("other", None).await.expect("c");
    let (long, _) = store.direct_room(a.id, b.id).await.expect("room");
    let (short, _) = store.direct_room(a.id, c.id).await.expect("room");
    fill(&store, long, &b, 60_000).await;
    fill(&store, short, &c, 100).await;
    let mut per_mark = Vec::new();
    for room in [short, long] {
        let started = Instant::now();
        for _ in 0..10_000 {
            // Marking seq 1 again and again is the expensive case for a count over history.
            store.mark_read(room, a.id, Seq(1)).await.expect("mark");
        }
        per_mark.push(started.elapsed() / 10_000);
    }
    eprintln!(
        "mark_read: {:?} per mark on a 100-message room, {:?} on a 60,000-message room",
        per_mark[0], per_mark[1]
    );
    assert!(
        per_mark[1] < per_mark[0] * 3 + Duration::from_micros(200),
        "{per_mark:?}"
    );
    store.close().await;
}
