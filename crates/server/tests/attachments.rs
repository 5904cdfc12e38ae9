//! Attachments over HTTP and STOMP, on SQLite and on PostgreSQL: upload, send, fetch by members
//! only (the uploader alone before sending), the size limit before and while reading, types from
//! the bytes (an HTML "cat.png" refused, HTML and SVG never served as themselves), images
//! re-encoded without EXIF and turned upright, decompression bombs and broken images refused,
//! the `invalid_attachment` cases, cleanup of unsent uploads, and deleting a message's files.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::Command;
use sotong_testkit::*;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_both_stores!(
    a_member_fetches_a_sent_file_and_others_are_refused,
    sizes_are_limited_before_and_while_reading,
    types_come_from_the_bytes_and_markup_is_never_served_as_such,
    images_are_upright_without_metadata_and_bad_ones_are_refused,
    only_the_senders_unsent_uploads_to_the_room_can_be_sent,
    unsent_uploads_are_cleaned_up_and_a_deleted_message_takes_its_files,
    the_message_event_over_stomp_carries_its_attachments,
    a_reply_counts_the_files_it_answers_and_edits_and_reactions_keep_them,
);

/// `POST /api/rooms/{room}/attachments?name=…` with `bytes` as the body.
async fn upload(
    server: &TestServer,
    user: &TestUser,
    room: i64,
    name: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/rooms/{room}/attachments")))
        .query(&[("name", name)])
        .bearer_auth(&user.token)
        .body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("upload");
    let status = response.status().as_u16();
    let text = response.text().await.expect("answer");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An upload that must succeed; its attachment's id.
async fn uploaded(
    server: &TestServer,
    user: &TestUser,
    room: i64,
    name: &str,
    bytes: Vec<u8>,
) -> i64 {
    let (status, attachment) = upload(server, user, room, name, None, bytes).await;
    assert_eq!(status, 201, "{attachment}");
    attachment["id"].as_i64().expect("an attachment id")
}

/// `GET path` with the user's token: status, headers and bytes.
async fn fetch(server: &TestServer, user: &TestUser, path: &str) -> (u16, HeaderMap, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("fetch");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, headers, bytes)
}

async fn send(server: &TestServer, user: &TestUser, room: i64, body: Value) -> (u16, Value) {
    server
        .request(
            Method::POST,
            &format!("/api/rooms/{room}/messages"),
            Some(&user.token),
            Some(body),
        )
        .await
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or(""))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Every file stored under the server's files folder.
fn stored_files(server: &TestServer) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    let dir = server.dir.as_ref().expect("data dir").path().join("files");
    walk(&dir, &mut found);
    found
}

/// A noisy RGB image (so that it does not compress to nothing).
fn noise(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) as u8;
        image::Rgb([v, v.wrapping_add(80), v.wrapping_mul(3)])
    })
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    noise(width, height)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// A JPEG of `width`×`height` with an EXIF block: orientation 6 (turn 90° clockwise to view)
/// and a GPS latitude.
fn jpeg_with_exif(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    noise(width, height)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    let jpeg = out.into_inner();
    // TIFF, little-endian: IFD0 at 8 with Orientation = 6 and a GPS IFD pointer; the GPS IFD
    // holds GPSLatitudeRef = "N".
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    tiff.extend([0x12, 0x01, 3, 0]);
    tiff.extend(1u32.to_le_bytes());
    tiff.extend([6, 0, 0, 0]);
    tiff.extend([0x25, 0x88, 4, 0]);
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(38u32.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 38);
    tiff.extend(1u16.to_le_bytes());
    tiff.extend([0x01, 0x00, 2, 0]);
    tiff.extend(2u32.to_le_bytes());
    tiff.extend(*b"N\0\0\0");
    tiff.extend(0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let length = u16::try_from(app1.len() + 2).expect("small");
    let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_exif.extend(length.to_be_bytes());
    with_exif.extend(app1);
    with_exif.extend(&jpeg[2..]);
    with_exif
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    let mut body = kind.to_vec();
    body.extend(data);
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    chunk
}

/// A tiny PNG whose header says 100000×100000 pixels.
fn decompression_bomb() -> Vec<u8> {
    let mut header = 100_000u32.to_be_bytes().to_vec();
    header.extend(100_000u32.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &header));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// Sends `head` (and `body` after it, ignoring a server that closed early) on a fresh
/// connection and returns the response as text.
async fn raw_http(server: &TestServer, head: String, body: Vec<Vec<u8>>) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    for chunk in body {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n")
                        && String::from_utf8_lossy(&answer).contains("\"error\"")
                    {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered in time");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn a_member_fetches_a_sent_file_and_others_are_refused(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.group(&alice, "team", &[&bob]).await;

    let pdf = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n".to_vec();
    let (status, attachment) = upload(
        &server,
        &alice,
        room,
        "../reports/plan.pdf",
        Some("text/html"),
        pdf.clone(),
    )
    .await;
    assert_eq!(status, 201, "{attachment}");
    assert_eq!(attachment["name"], "plan.pdf", "folders are stripped");
    assert_eq!(attachment["contentType"], "application/pdf");
    assert_eq!(attachment["size"], pdf.len());
    assert_eq!(attachment.get("image"), None);
    let id = attachment["id"].as_i64().expect("id");
    let path = format!("/api/attachments/{id}");

    assert_eq!(
        code(&upload(&server, &carol, room, "x.txt", None, b"hi".to_vec()).await),
        (403, "forbidden"),
        "a non-member cannot upload"
    );
    let (status, _, _) = fetch(&server, &bob, &path).await;
    assert_eq!(status, 404, "an unsent upload is the uploader's alone");
    let (status, _, bytes) = fetch(&server, &alice, &path).await;
    assert_eq!((status, bytes), (200, pdf.clone()), "the uploader reads it");

    let (status, message) = send(&server, &alice, room, json!({"attachments": [id]})).await;
    assert_eq!(
        status, 201,
        "with attachments the text may be left out: {message}"
    );
    assert_eq!(message["attachments"][0]["id"], id);
    assert_eq!(message["attachments"][0]["name"], "plan.pdf");

    let (status, headers, bytes) = fetch(&server, &bob, &path).await;
    assert_eq!((status, &bytes), (200, &pdf), "a member reads it once sent");
    assert_eq!(header(&headers, "content-type"), "application/pdf");
    assert_eq!(header(&headers, "content-length"), pdf.len().to_string());
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&headers, "content-security-policy"),
        "sandbox; default-src 'none'"
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename*=UTF-8''plan.pdf"
    );
    assert_eq!(header(&headers, "cache-control"), "private");
    let (status, _, _) = fetch(&server, &carol, &path).await;
    assert_eq!(status, 403, "a non-member cannot read it");
    let (status, _, _) = fetch(&server, &bob, &format!("{path}/thumbnail")).await;
    assert_eq!(status, 404, "a PDF has no thumbnail");
    let (status, _, _) = fetch(&server, &bob, "/api/attachments/999999").await;
    assert_eq!(status, 404);

    let page = server.history(&bob, room, "").await;
    assert_eq!(
        page[0]["attachments"][0]["id"], id,
        "history pages carry them"
    );

    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = fetch(&server, &bob, &path).await;
    assert_eq!(status, 403, "a member who leaves loses access");
}

async fn sizes_are_limited_before_and_while_reading(store: StoreBackend) {
    let server = store
        .spawn(|config| config.max_upload_bytes = 1024 * 1024)
        .await;
    let alice = server.user("alice").await;
    let room = server.group(&alice, "team", &[]).await;
    let target = format!("/api/rooms/{room}/attachments?name=big.bin");

    // 2 GB announced and not one byte sent: the answer comes all the same.
    let started = Instant::now();
    let answer = raw_http(
        &server,
        format!(
            "POST {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-length: 2147483648\r\n\r\n",
            alice.token
        ),
        Vec::new(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too_large"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // A chunked body that passes the limit is cut off, and nothing of it is kept.
    let chunk = vec![b'x'; 64 * 1024];
    let mut chunks = Vec::new();
    for _ in 0..40 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend(&chunk);
        framed.extend(b"\r\n");
        chunks.push(framed);
    }
    chunks.push(b"0\r\n\r\n".to_vec());
    let answer = raw_http(
        &server,
        format!(
            "POST {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             transfer-encoding: chunked\r\n\r\n",
            alice.token
        ),
        chunks,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too_large"), "{answer}");
    assert_eq!(
        stored_files(&server),
        Vec::<PathBuf>::new(),
        "nothing stored"
    );

    assert_eq!(
        code(&upload(&server, &alice, room, "empty.txt", None, Vec::new()).await),
        (400, "invalid")
    );
    assert_eq!(
        code(&upload(&server, &alice, room, "", None, b"x".to_vec()).await),
        (400, "invalid")
    );
    assert_eq!(
        code(&upload(&server, &alice, room, &"n".repeat(256), None, b"x".to_vec()).await),
        (400, "invalid")
    );
    let (status, at_limit) = upload(
        &server,
        &alice,
        room,
        "fits.bin",
        None,
        vec![0u8; 1024 * 1024],
    )
    .await;
    assert_eq!(status, 201, "exactly the limit fits: {at_limit}");
    assert_eq!(at_limit["contentType"], "application/octet-stream");
}

async fn types_come_from_the_bytes_and_markup_is_never_served_as_such(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let room = server.group(&alice, "team", &[]).await;
    let html = b"<!DOCTYPE html><html><body><script>alert(document.domain)</script>".to_vec();

    assert_eq!(
        code(&upload(&server, &alice, room, "cat.png", None, html.clone()).await),
        (415, "type_mismatch"),
        "HTML named like an image"
    );
    assert_eq!(
        code(
            &upload(
                &server,
                &alice,
                room,
                "cat",
                Some("image/jpeg"),
                html.clone()
            )
            .await
        ),
        (415, "type_mismatch"),
        "HTML typed like an image"
    );
    assert_eq!(
        code(
            &upload(
                &server,
                &alice,
                room,
                "x.png",
                None,
                b"garbage, not a picture".to_vec()
            )
            .await
        ),
        (415, "type_mismatch")
    );

    let (status, page) = upload(&server, &alice, room, "page.html", Some("text/html"), html).await;
    assert_eq!(status, 201, "{page}");
    assert_eq!(page["contentType"], "application/octet-stream");
    let (status, headers, _) =
        fetch(&server, &alice, &format!("/api/attachments/{}", page["id"])).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename*=UTF-8''page.html"
    );

    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>"#;
    let (status, drawing) = upload(
        &server,
        &alice,
        room,
        "drawing.svg",
        Some("image/svg+xml"),
        svg.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{drawing}");
    assert_eq!(drawing["contentType"], "application/octet-stream");
    assert_eq!(drawing.get("image"), None, "SVG is not an image here");
    let path = format!("/api/attachments/{}", drawing["id"]);
    let (_, headers, bytes) = fetch(&server, &alice, &path).await;
    assert_eq!(bytes, svg.to_vec());
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    assert!(header(&headers, "content-disposition").starts_with("attachment;"));
    let (status, _, _) = fetch(&server, &alice, &format!("{path}/thumbnail")).await;
    assert_eq!(status, 404);

    let (status, text) = upload(
        &server,
        &alice,
        room,
        "notes é.txt",
        None,
        b"plain words\n".to_vec(),
    )
    .await;
    assert_eq!((status, &text["contentType"]), (201, &json!("text/plain")));
    let (_, headers, _) = fetch(&server, &alice, &format!("/api/attachments/{}", text["id"])).await;
    assert_eq!(
        header(&headers, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        "attachment; filename*=UTF-8''notes%20%C3%A9.txt"
    );
}

async fn images_are_upright_without_metadata_and_bad_ones_are_refused(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let room = server.group(&alice, "team", &[]).await;

    // Stored 800×400 with "turn 90°": it is seen 400×800.
    let (status, photo) = upload(
        &server,
        &alice,
        room,
        "photo.jpg",
        None,
        jpeg_with_exif(800, 400),
    )
    .await;
    assert_eq!(status, 201, "{photo}");
    assert_eq!(photo["contentType"], "image/jpeg");
    assert_eq!(photo["image"], json!({"width": 400, "height": 800}));
    let path = format!("/api/attachments/{}", photo["id"]);
    let (status, headers, stored) = fetch(&server, &alice, &path).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert_eq!(
        header(&headers, "content-disposition"),
        "inline; filename*=UTF-8''photo.jpg"
    );
    assert!(
        !stored.windows(4).any(|w| w == b"Exif"),
        "the stored image carries no EXIF (no GPS)"
    );
    let decoded = image::load_from_memory(&stored).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (400, 800));
    let (status, headers, thumbnail) = fetch(&server, &alice, &format!("{path}/thumbnail")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    let thumbnail = image::load_from_memory(&thumbnail).expect("a thumbnail");
    assert_eq!(
        (thumbnail.width(), thumbnail.height()),
        (160, 320),
        "upright"
    );

    let (status, picture) = upload(&server, &alice, room, "p.png", None, png(64, 48)).await;
    assert_eq!(status, 201, "{picture}");
    assert_eq!(picture["image"], json!({"width": 64, "height": 48}));

    let started = Instant::now();
    assert_eq!(
        code(
            &upload(
                &server,
                &alice,
                room,
                "bomb.png",
                None,
                decompression_bomb()
            )
            .await
        ),
        (413, "image_too_large")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused quickly"
    );

    let whole = png(256, 256);
    let truncated = whole[..whole.len() / 2].to_vec();
    assert_eq!(
        code(&upload(&server, &alice, room, "cut.png", None, truncated).await),
        (400, "bad_image")
    );
}

async fn only_the_senders_unsent_uploads_to_the_room_can_be_sent(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    let other = server.group(&alice, "other", &[&bob]).await;
    let bobs = uploaded(&server, &bob, room, "b.txt", b"bob's".to_vec()).await;
    let elsewhere = uploaded(&server, &alice, other, "o.txt", b"other".to_vec()).await;
    let mine = uploaded(&server, &alice, room, "a.txt", b"alice's".to_vec()).await;

    for (ids, why) in [
        (vec![bobs], "someone else's upload"),
        (vec![elsewhere], "an upload to another room"),
        (vec![mine, 999_999], "no such upload"),
    ] {
        let answer = send(
            &server,
            &alice,
            room,
            json!({"text": "see", "attachments": ids}),
        )
        .await;
        assert_eq!(code(&answer), (400, "invalid_attachment"), "{why}");
    }
    assert!(
        server.history(&alice, room, "").await.is_empty(),
        "nothing stored"
    );
    let eleven: Vec<i64> = (1..=11).collect();
    assert_eq!(
        code(
            &send(
                &server,
                &alice,
                room,
                json!({"text": "x", "attachments": eleven})
            )
            .await
        ),
        (413, "too_large")
    );

    let body = json!({"text": "here", "attachments": [mine], "clientMsgId": "c-1"});
    let (status, first) = send(&server, &alice, room, body.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, retried) = send(&server, &alice, room, body).await;
    assert_eq!(status, 201, "a retry is not refused: {retried}");
    assert_eq!(
        retried["id"], first["id"],
        "the retry answers the stored message"
    );
    assert_eq!(retried["attachments"][0]["id"], mine);
    assert_eq!(
        code(
            &send(
                &server,
                &alice,
                room,
                json!({"text": "again", "attachments": [mine]})
            )
            .await
        ),
        (400, "invalid_attachment"),
        "already sent"
    );
    assert_eq!(server.history(&alice, room, "").await.len(), 1);
}

async fn unsent_uploads_are_cleaned_up_and_a_deleted_message_takes_its_files(store: StoreBackend) {
    let server = store
        .spawn(|config| {
            config.upload_ttl_secs = 1;
            config.upload_cleanup_ms = 100;
        })
        .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;

    let sent = uploaded(&server, &alice, room, "kept.png", png(32, 32)).await;
    let (status, message) = send(&server, &alice, room, json!({"attachments": [sent]})).await;
    assert_eq!(status, 201, "{message}");
    let unsent = uploaded(
        &server,
        &alice,
        room,
        "forgotten.txt",
        b"never sent".to_vec(),
    )
    .await;
    assert_eq!(
        stored_files(&server).len(),
        3,
        "an image, its thumbnail, a file"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, _) = fetch(&server, &alice, &format!("/api/attachments/{unsent}")).await;
        if status == 404 && stored_files(&server).len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unsent upload was not cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, _) = fetch(&server, &bob, &format!("/api/attachments/{sent}")).await;
    assert_eq!(status, 200, "a sent attachment stays");

    let seq = message["seq"].as_u64().expect("seq");
    let tombstone = server.delete_message(&alice, room, seq).await;
    assert_eq!(
        tombstone.get("attachments"),
        None,
        "the tombstone carries none"
    );
    let (status, _, _) = fetch(&server, &bob, &format!("/api/attachments/{sent}")).await;
    assert_eq!(status, 404);
    let page = server.history(&bob, room, "").await;
    assert_eq!(page[0].get("attachments"), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stored_files(&server).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the deleted message's files stay stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_message_event_over_stomp_carries_its_attachments(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    let id = uploaded(&server, &alice, room, "a.png", png(20, 10)).await;

    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("t", &format!("/topic/rooms/{room}")).await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("e", "/user/queue/errors").await;
    a.send_json(room, json!({"text": "", "attachments": [id]}), "r1")
        .await;
    let frames = a
        .until(|f| is_receipt(f, "r1") || is_error_for(f, "r1"))
        .await;
    assert!(frames.iter().any(|f| is_receipt(f, "r1")), "{frames:?}");

    let frames = b
        .until(|f| f.command == Command::Message && body(f)["type"] == "message")
        .await;
    let event = body(frames.last().expect("an event"));
    let attachment = &event["message"]["attachments"][0];
    assert_eq!(attachment["id"], id);
    assert_eq!(attachment["image"], json!({"width": 20, "height": 10}));

    a.send_json(room, json!({"text": "again", "attachments": [id]}), "r2")
        .await;
    let frames = a
        .until(|f| is_receipt(f, "r2") || is_error_for(f, "r2"))
        .await;
    let refused = frames
        .iter()
        .find(|f| is_error_for(f, "r2"))
        .expect("refused");
    assert_eq!(body(refused)["code"], "invalid_attachment");
}

async fn a_reply_counts_the_files_it_answers_and_edits_and_reactions_keep_them(
    store: StoreBackend,
) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.group(&alice, "team", &[&bob]).await;
    let first = uploaded(&server, &alice, room, "a.png", png(8, 8)).await;
    let second = uploaded(&server, &alice, room, "b.txt", b"notes".to_vec()).await;
    let (status, message) = send(
        &server,
        &alice,
        room,
        json!({"text": "two files", "attachments": [first, second]}),
    )
    .await;
    assert_eq!(status, 201, "{message}");
    let seq = message["seq"].as_u64().expect("seq");

    let (status, reply) = send(
        &server,
        &bob,
        room,
        json!({"text": "thanks", "replyTo": seq}),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["replyTo"]["attachments"], 2, "live: {reply}");
    let page = server.history(&bob, room, "").await;
    assert_eq!(page[1]["replyTo"]["attachments"], 2, "from history");

    // A change reloads the message: its files are there once each, not again.
    let edited = server
        .edit_message(&alice, room, seq, "two files, see")
        .await;
    assert_eq!(
        edited["attachments"].as_array().map(Vec::len),
        Some(2),
        "{edited}"
    );
    let (status, _) = server
        .request(
            reqwest::Method::PUT,
            &format!("/api/rooms/{room}/messages/{seq}/reactions/%F0%9F%91%8D"),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let page = server.history(&bob, room, "").await;
    assert_eq!(page[0]["attachments"].as_array().map(Vec::len), Some(2));
    assert_eq!(page[0]["reactions"][0]["count"], 1);
}
