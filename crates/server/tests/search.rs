//! Message search (`GET /api/search`) on SQLite and on PostgreSQL, through the real server:
//! Korean (two characters, under the trigram index, and three) and English in any case,
//! filters, paging without a gap or a repeat, edits re-indexed and deletes gone, bad input
//! with its code, and who may find what: never a room the searcher was never in, has left,
//! or a direct room of two other people.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_testkit::*;

on_both_stores!(
    korean_and_english_are_found_highlighted,
    filters_and_pages_without_gaps_or_repeats,
    edits_are_found_again_and_deletes_never,
    nothing_is_found_outside_the_searchers_rooms,
    bad_input_has_its_code,
);

/// Percent-encodes a query value (UTF-8), so that Korean, spaces and `&` reach the server as
/// written.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /api/search?q=…` plus `extra` (already encoded `&k=v` pairs) as `user`.
async fn search(server: &TestServer, user: &TestUser, q: &str, extra: &str) -> (u16, Value) {
    server
        .get(
            &format!("/api/search?q={}{extra}", encode(q)),
            Some(&user.token),
        )
        .await
}

/// The texts of a successful search's results, in order.
async fn texts(server: &TestServer, user: &TestUser, q: &str, extra: &str) -> Vec<String> {
    let (status, page) = search(server, user, q, extra).await;
    assert_eq!(status, 200, "{page}");
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| hit["message"]["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A snippet as text with its matches in brackets.
fn marked(hit: &Value) -> String {
    hit["snippet"]
        .as_array()
        .expect("snippet")
        .iter()
        .map(|part| {
            let text = part["text"].as_str().unwrap_or("");
            if part["match"] == true {
                format!("[{text}]")
            } else {
                text.to_string()
            }
        })
        .collect()
}

async fn korean_and_english_are_found_highlighted(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "Seoul trip", &[&bob]).await;
    server
        .post_message(&alice, room, "안녕하세요, 여러분!")
        .await;
    server.post_message(&bob, room, "Hello <b>World</b>").await;
    server.post_message(&bob, room, "see you at 10").await;

    let (status, page) = search(&server, &bob, "안녕", "").await;
    assert_eq!(status, 200, "{page}");
    let hits = page["results"].as_array().expect("results");
    assert_eq!(hits.len(), 1, "{page}");
    assert_eq!(marked(&hits[0]), "[안녕]하세요, 여러분!");
    assert_eq!(
        hits[0]["room"],
        json!({"id": room, "kind": "group", "name": "Seoul trip"})
    );
    assert_eq!(hits[0]["message"]["seq"], 1);
    assert_eq!(hits[0]["message"]["sender"]["username"], "alice");
    assert!(page["next"].is_null());

    assert_eq!(
        texts(&server, &bob, "하세요", "").await,
        ["안녕하세요, 여러분!"]
    );
    let (_, page) = search(&server, &alice, "WORLD", "").await;
    // Markup is text: the snippet carries it as characters, the match marked beside it.
    assert_eq!(marked(&page["results"][0]), "Hello <b>[World]</b>");
    assert_eq!(
        texts(&server, &alice, "hello world", "").await,
        ["Hello <b>World</b>"]
    );
    assert!(texts(&server, &alice, "hello 안녕", "").await.is_empty());
}

async fn filters_and_pages_without_gaps_or_repeats(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let team = server.group(&alice, "Team", &[&bob]).await;
    let direct = server.direct(&alice, &bob).await;
    let mut expected = Vec::new();
    for i in 0..23 {
        let (room, who) = if i % 2 == 0 {
            (team, &alice)
        } else {
            (direct, &bob)
        };
        let message = server
            .post_message(who, room, &format!("report {i} 보고서"))
            .await;
        expected.push(message["id"].as_i64().expect("id"));
        server.post_message(who, room, "unrelated").await;
    }
    expected.reverse();

    // Every page at most `limit`, newest first, the whole set once each.
    let mut seen = Vec::new();
    let mut before = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = search(&server, &alice, "보고서", &format!("&limit=5{before}")).await;
        assert_eq!(status, 200, "{page}");
        let hits = page["results"].as_array().expect("results");
        assert!(hits.len() <= 5);
        seen.extend(
            hits.iter()
                .map(|h| h["message"]["id"].as_i64().expect("id")),
        );
        pages += 1;
        match page["next"].as_str() {
            Some(next) => before = format!("&before={}", encode(next)),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 5);

    // A room filter, a sender filter, both.
    let in_direct = texts(
        &server,
        &alice,
        "report",
        &format!("&room={direct}&limit=50"),
    )
    .await;
    assert_eq!(in_direct.len(), 11);
    let by_alice = texts(&server, &bob, "report", "&sender=ALICE&limit=50").await;
    assert_eq!(by_alice.len(), 12);
    assert!(by_alice.iter().all(|t| {
        let n: u32 = t
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        n.is_multiple_of(2)
    }));
    assert!(
        texts(&server, &bob, "report", &format!("&room={team}&sender=bob"))
            .await
            .is_empty()
    );
    assert!(texts(&server, &bob, "report", "&sender=nobody")
        .await
        .is_empty());
    // A direct room is named after the other member, as the searcher sees it.
    let (_, page) = search(
        &server,
        &alice,
        "report 1",
        &format!("&room={direct}&limit=1"),
    )
    .await;
    assert_eq!(page["results"][0]["room"]["name"], "bob");
}

async fn edits_are_found_again_and_deletes_never(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "g", &[&bob]).await;
    server.post_message(&alice, room, "the first draft").await;
    server.post_message(&alice, room, "secret plan 비밀").await;
    server
        .edit_message(&alice, room, 1, "the final version")
        .await;
    assert!(texts(&server, &bob, "draft", "").await.is_empty());
    assert_eq!(
        texts(&server, &bob, "FINAL", "").await,
        ["the final version"]
    );
    server.delete_message(&alice, room, 2).await;
    assert!(texts(&server, &bob, "secret", "").await.is_empty());
    assert!(texts(&server, &bob, "비밀", "").await.is_empty());
}

async fn nothing_is_found_outside_the_searchers_rooms(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let eve = server.user("eve").await;
    let never = server.group(&bob, "never", &[&carol]).await;
    let left = server.group(&bob, "left", &[&eve, &carol]).await;
    let theirs = server.direct(&bob, &carol).await;
    let mine = server.group(&eve, "mine", &[&bob]).await;
    server
        .post_message(&bob, never, "password 암호 in a room eve was never in")
        .await;
    server
        .post_message(&bob, left, "password 암호 in a room eve left")
        .await;
    server
        .post_message(&carol, theirs, "password 암호 between bob and carol")
        .await;
    server
        .post_message(&bob, mine, "password 암호 for eve")
        .await;
    // Before leaving, eve finds the room's message.
    assert_eq!(texts(&server, &eve, "password", "").await.len(), 2);
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{left}/members/me"),
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    // Long words (the index), short ones (the scan), Korean and English: only eve's room.
    for q in ["password", "암호", "pa", "PASSWORD 암호"] {
        assert_eq!(
            texts(&server, &eve, q, "").await,
            ["password 암호 for eve"],
            "{q}"
        );
    }
    // Words only the other rooms hold find nothing at all.
    assert!(texts(&server, &eve, "in a room", "").await.is_empty());
    assert!(texts(&server, &eve, "between", "").await.is_empty());
    // Asking for another room by name is refused, not answered with its messages.
    for room in [never, left, theirs] {
        let (status, body) = search(&server, &eve, "password", &format!("&room={room}")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    // Nor does a sender filter reach past the rooms.
    assert!(texts(&server, &eve, "password", "&sender=carol")
        .await
        .is_empty());
    // The others still find their own.
    assert_eq!(
        texts(&server, &carol, "password", "&limit=50").await.len(),
        3
    );
}

async fn bad_input_has_its_code(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    server.group(&alice, "g", &[]).await;
    for (path, status, code) in [
        ("/api/search", 400, "invalid"),
        ("/api/search?q=%20%20", 400, "invalid"),
        ("/api/search?q=hi&limit=ten", 400, "invalid"),
        ("/api/search?q=hi&room=abc", 400, "invalid"),
        ("/api/search?q=hi&before=xyz", 400, "invalid"),
        ("/api/search?q=hi&room=999999", 404, "not_found"),
    ] {
        let (got, body) = server.get(path, Some(&alice.token)).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let long = "a".repeat(201);
    let (got, body) = search(&server, &alice, &long, "").await;
    assert_eq!(
        (got, body["error"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
    let (got, _) = server.get("/api/search?q=hello", None).await;
    assert_eq!(got, 401);
}

/// The search benchmark of `BENCHMARKS.md`, kept out of CI (ignored) but compiled with it:
/// fills a store with 1,000,000 messages of mixed English and Korean text over 2,000 rooms
/// (one user, `me`, in 50 of them), then times a handful of queries as `me`. Run with
/// `cargo test --release -p sotong-server --test search -- --ignored --nocapture`
/// (`SOTONG_BENCH_MESSAGES` sets another size, `SOTONG_BENCH_STORE` one store only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: minutes of filling; run by hand"]
async fn search_latency_over_a_million_messages() {
    use sotong_server::model::User;
    use sotong_server::store::postgres::PostgresStore;
    use sotong_server::store::sqlite::SqliteStore;
    use sotong_server::store::{MessageSearch, NewMessage, Store};
    use std::sync::Arc;
    use std::time::Instant;

    let total: usize = std::env::var("SOTONG_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("dir");
    let database = ScratchDatabase::create().await;
    // `SOTONG_BENCH_STORE=sqlite` or `postgres` runs one store only.
    let only = std::env::var("SOTONG_BENCH_STORE").unwrap_or_default();
    let sqlite = SqliteStore::open(dir.path()).await.expect("sqlite");
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("SQLite", Arc::new(sqlite.clone())),
        (
            "PostgreSQL",
            Arc::new(PostgresStore::connect(database.url()).await.expect("pg")),
        ),
    ];
    stores.retain(|(name, _)| {
        let key = if *name == "SQLite" {
            "sqlite"
        } else {
            "postgres"
        };
        only.is_empty() || only == key
    });
    const EN: [&str; 16] = [
        "hello", "meeting", "project", "deadline", "lunch", "tomorrow", "report", "please",
        "review", "the", "release", "coffee", "thanks", "update", "weekend", "budget",
    ];
    const KO: [&str; 16] = [
        "안녕하세요",
        "회의",
        "프로젝트",
        "마감",
        "점심",
        "내일",
        "보고서",
        "부탁해요",
        "검토",
        "배포",
        "커피",
        "감사합니다",
        "업데이트",
        "주말",
        "예산",
        "안녕",
    ];
    for (name, store) in stores {
        let me = store.upsert_user("me", None).await.expect("me");
        let mut users: Vec<User> = Vec::new();
        for i in 0..200 {
            users.push(
                store
                    .upsert_user(&format!("u{i}"), None)
                    .await
                    .expect("user"),
            );
        }
        let mut rooms = Vec::new();
        for r in 0..2_000usize {
            let a = &users[r % users.len()];
            let b = &users[(r * 7 + 1) % users.len()];
            let mut members = vec![b.id];
            if r % 40 == 0 {
                members.push(me.id);
            }
            let room = store
                .create_group(&format!("room {r}"), a.id, &members)
                .await
                .expect("room");
            rooms.push((room, a.clone()));
        }
        // A small linear congruential generator: the same text on every run and backend.
        let mut seed: u64 = 42;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let started = Instant::now();
        let mut stored = 0;
        while stored < total {
            let batch: Vec<NewMessage> = (0..1_000.min(total - stored))
                .map(|_| {
                    let (room, sender) = &rooms[next() % rooms.len()];
                    let words = 4 + next() % 8;
                    let text = (0..words)
                        .map(|_| {
                            if next() % 2 == 0 {
                                EN[next() % EN.len()]
                            } else {
                                KO[next() % KO.len()]
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    NewMessage {
                        room_id: *room,
                        sender: sender.clone(),
                        text,
                        client_msg_id: None,
                        reply_to: None,
                        mentions: Vec::new(),
                        attachments: Vec::new(),
                    }
                })
                .collect();
            stored += batch.len();
            for result in store.insert_messages(batch).await.expect("batch") {
                result.expect("stored");
            }
        }
        eprintln!(
            "{name}: {total} messages stored in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if name == "SQLite" {
            // Whatever the indexer has not yet taken, indexed now, so that the queries below
            // time the index and not the scan above its mark.
            let at = Instant::now();
            sqlite.index_search_now().await.expect("indexed");
            eprintln!(
                "SQLite: indexing the rest took {:.1} s",
                at.elapsed().as_secs_f64()
            );
        }
        if name == "PostgreSQL" {
            // The planner's statistics as autovacuum leaves them within a minute of a bulk
            // load; without them it plans for the empty table it last saw.
            let pool = sqlx::PgPool::connect(database.url()).await.expect("pg");
            sqlx::query("ANALYZE")
                .execute(&pool)
                .await
                .expect("analyze");
            pool.close().await;
        }
        for q in [
            "hello",
            "zebra",
            "안녕하세요",
            "회의",
            "project deadline",
            "보고서 review",
            "ok",
        ] {
            let mut times = Vec::new();
            for _ in 0..200 {
                let at = Instant::now();
                store
                    .search_messages(MessageSearch {
                        user: me.id,
                        words: q.split_whitespace().map(str::to_lowercase).collect(),
                        room: None,
                        sender: None,
                        before: None,
                        limit: 20,
                    })
                    .await
                    .expect("search");
                times.push(at.elapsed());
            }
            times.sort();
            eprintln!(
                "{name}: {q:?}: p50 {:.2} ms, p99 {:.2} ms",
                times[times.len() / 2].as_secs_f64() * 1e3,
                times[times.len() * 99 / 100].as_secs_f64() * 1e3
            );
        }
        store.close().await;
    }
}
