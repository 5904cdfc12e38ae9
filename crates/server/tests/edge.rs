//! The server's edge: slow and idle HTTP clients, per-address connection caps, the client's
//! address behind a trusted proxy, CORS on `/api`, the Content-Security-Policy, and the web app.

use serde_json::json;
use sotong_stomp::{Command, Frame};
use sotong_testkit::{Stomp, TestServer, PATIENCE};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite;

/// A TCP connection to `server` from `source` (any 127.0.0.0/8 address reaches loopback), so a
/// test's per-address counts do not include the harness's own connections from 127.0.0.1.
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind source");
    socket.connect(server).await.expect("connect")
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

/// Sends one keep-alive request and reads its response head; `None` if the connection closed.
async fn healthz_on(tcp: &mut TcpStream) -> Option<String> {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: sotong\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
        .await
        .expect("an answer or a close")
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off_after_the_timeout() {
    let server = TestServer::spawn_with(|c| c.limits.header_read_timeout_ms = 300).await;
    let mut tcp = connect_from([127, 0, 0, 2], server.addr).await;
    let started = Instant::now();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: sotong\r\n")
        .await
        .expect("write");
    // One header line every 50 ms, never the blank line that ends them.
    let mut closed = false;
    for i in 0..100 {
        if tcp
            .write_all(format!("X-Drip-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut byte)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "the connection outlived 100 header lines");
    assert!(
        elapsed >= Duration::from_millis(300),
        "cut off before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "cut off late: {elapsed:?}"
    );
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let server = TestServer::spawn_with(|c| c.limits.header_read_timeout_ms = 300).await;
    // A connection that never sends anything.
    let mut silent = connect_from([127, 0, 0, 2], server.addr).await;
    // A keep-alive connection after its first request.
    let mut kept = connect_from([127, 0, 0, 2], server.addr).await;
    let head = healthz_on(&mut kept).await.expect("an answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    read_until_closed(&mut silent).await;
    read_until_closed(&mut kept).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_http_connections() {
    let server = TestServer::spawn_with(|c| c.limits.max_http_connections_per_ip = Some(3)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tcp = connect_from([127, 0, 0, 3], server.addr).await;
        // An answer proves the connection was accepted and counted.
        let head = healthz_on(&mut tcp).await.expect("an answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(tcp);
    }
    let mut fourth = connect_from([127, 0, 0, 3], server.addr).await;
    assert_eq!(healthz_on(&mut fourth).await, None, "the fourth is refused");
    // Another address is not affected.
    let mut other = connect_from([127, 0, 0, 4], server.addr).await;
    assert!(healthz_on(&mut other).await.is_some());
    // A closed connection frees its slot (once the server has seen it close).
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = connect_from([127, 0, 0, 3], server.addr).await;
        if healthz_on(&mut again).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn websockets_waiting_for_connect_are_capped_per_address() {
    let server =
        TestServer::spawn_with(|c| c.limits.max_pending_connections_per_ip = Some(2)).await;
    let mut first = Stomp::open(&server).await;
    let _second = Stomp::open(&server).await;
    match Stomp::open_with(&server, |_| {}).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        Err(other) => panic!("expected 429, got {other}"),
        Ok(_) => panic!("a third unanswered socket was let in"),
    }
    // Once CONNECTED, a socket no longer counts as waiting.
    let user = server.user("edge-alice").await;
    let connected = first
        .request(
            Frame::new(Command::Connect)
                .with_header("accept-version", "1.2")
                .with_header("host", "localhost")
                .with_header("Authorization", format!("Bearer {}", user.token)),
        )
        .await;
    assert_eq!(connected.command, Command::Connected);
    let third = Stomp::open_with(&server, |_| {}).await;
    assert!(third.is_ok(), "the answered socket freed its slot");
}

async fn login_from(server: &TestServer, forwarded_for: &str) -> u16 {
    server
        .http
        .post(server.url("/api/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": "nobody", "password": "wrong-password"}))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_get_their_own_login_throttle() {
    let server = TestServer::spawn_with(|c| {
        c.limits.auth_attempts_per_minute = 2;
        c.limits.failed_logins_per_user = 100;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    // A spoofed left-most entry does not give the client a fresh bucket.
    assert_eq!(login_from(&server, "203.0.113.1").await, 401);
    assert_eq!(login_from(&server, "198.51.100.9, 203.0.113.1").await, 401);
    assert_eq!(login_from(&server, "203.0.113.1").await, 429);
    assert_eq!(
        login_from(&server, "203.0.113.2").await,
        401,
        "another client"
    );
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let server = TestServer::spawn_with(|c| {
        c.limits.auth_attempts_per_minute = 2;
        c.limits.failed_logins_per_user = 100;
    })
    .await;
    assert_eq!(login_from(&server, "203.0.113.1").await, 401);
    assert_eq!(login_from(&server, "203.0.113.2").await, 401);
    assert_eq!(
        login_from(&server, "203.0.113.3").await,
        429,
        "one peer, one bucket, whatever it claims"
    );
}

#[tokio::test]
async fn api_answers_cors_for_allowed_origins_only() {
    let server =
        TestServer::spawn_with(|c| c.allowed_origins = vec!["http://localhost:5173".into()]).await;
    let preflight = |origin: &'static str| {
        server
            .http
            .request(reqwest::Method::OPTIONS, server.url("/api/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(
        h["access-control-allow-origin"], "http://localhost:5173",
        "{h:?}"
    );
    let allow_headers = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allow_headers.contains("authorization") && allow_headers.contains("content-type"));
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("POST"));
    assert!(h.get("access-control-allow-credentials").is_none());

    let refused = preflight("http://evil.example").await.expect("preflight");
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // The real request carries the header too, and only for the allowed origin.
    let user = server.user("edge-cors").await;
    for (origin, expected) in [
        ("http://localhost:5173", Some("http://localhost:5173")),
        ("http://evil.example", None),
    ] {
        let me = server
            .http
            .get(server.url("/api/me"))
            .header("origin", origin)
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 200);
        assert_eq!(
            me.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().expect("ascii")),
            expected
        );
    }
}

#[tokio::test]
async fn the_web_app_comes_from_the_web_dir_with_types_caching_and_spa_fallback() {
    let web = tempfile::tempdir().expect("web dir");
    std::fs::create_dir(web.path().join("assets")).expect("assets");
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><p>the app</p>",
    )
    .expect("index");
    std::fs::write(web.path().join("assets/index-1a2b.js"), "console.log(1)").expect("js");
    std::fs::write(web.path().join("assets/index-1a2b.css"), "p{}").expect("css");
    let web_dir = web.path().to_path_buf();
    let server = TestServer::spawn_with(|c| c.web_dir = Some(web_dir)).await;
    let fetch = |path: &'static str| server.http.get(server.url(path)).send();

    for (path, content_type, cache) in [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/rooms/5", "text/html; charset=utf-8", "no-cache"),
        (
            "/assets/index-1a2b.js",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/index-1a2b.css",
            "text/css; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
    ] {
        let response = fetch(path).await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], cache, "{path}");
    }
    let spa = fetch("/rooms/5")
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(spa.contains("the app"));
    assert_eq!(
        fetch("/assets/gone-0000.js").await.expect("get").status(),
        404
    );
    assert_eq!(
        fetch("/api/no-such-thing").await.expect("get").status(),
        404
    );
}

#[tokio::test]
async fn the_built_in_web_app_or_a_page_saying_it_is_missing_is_served_with_a_strict_csp() {
    // The harness points --web-dir at an empty folder, so the built-in copy answers.
    let server = TestServer::spawn().await;
    let response = server.http.get(server.url("/")).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("ws:"),
        "{csp}"
    );
    let page = response.text().await.expect("text");
    if !std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/dist/index.html"
    ))
    .is_file()
    {
        assert!(page.contains("not built into this binary"), "{page}");
    }
}
