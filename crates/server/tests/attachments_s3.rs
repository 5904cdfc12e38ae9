//! Attachments in S3-compatible storage (`--files-url s3://BUCKET/PREFIX`), shared by two nodes:
//! a file uploaded through one node is served by the other, which has none of it on its own
//! disk. The S3 server is PyPI's `moto` in server mode on a free loopback port, from a
//! virtualenv (`scripts/test` installs it under the target folder; without it the test
//! installs it in a temporary folder). Only when moto cannot be installed at all is the test
//! skipped, saying so loudly.

use serde_json::{json, Value};
use sotong_testkit::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "sotong-attachments";

/// A moto server, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `moto_server` is, installing it in a virtualenv when it is not there yet:
/// `SOTONG_MOTO_SERVER`, else the virtualenv `moto-venv` of the target folder, else one
/// made now in `scratch`. `None` when it cannot be installed.
fn moto_server(scratch: &Path) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SOTONG_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let prepared = target.join("moto-venv/bin/moto_server");
    if prepared.exists() {
        return Some(prepared);
    }
    let venv = scratch.join("moto-venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .is_ok_and(|s| s.success());
    installed.then(|| venv.join("bin/moto_server"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts moto and waits until it answers.
async fn start_moto(binary: &Path) -> Moto {
    let port = free_port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    while http.get(&moto.endpoint).send().await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}

#[tokio::test]
async fn a_file_uploaded_through_one_node_is_served_by_another_from_s3() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let Some(binary) = moto_server(scratch.path()) else {
        eprintln!(
            "\n\n*** SKIPPED: the S3 attachments test needs PyPI's moto, which could not be \
             installed (python3 -m venv DIR && DIR/bin/pip install 'moto[server]'). ***\n\n"
        );
        return;
    };
    let moto = start_moto(&binary).await;
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{}/{BUCKET}", moto.endpoint))
        .send()
        .await
        .expect("create the bucket");
    assert!(created.status().is_success(), "{created:?}");
    // The servers of this test (this binary holds no other) read these when they start.
    for (name, value) in [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        std::env::set_var(name, value);
    }

    let (one, two) = TestServer::spawn_two_nodes(|config| {
        config.files_url = Some(format!("s3://{BUCKET}/chat"));
    })
    .await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.group(&alice, "team", &[&bob]).await;

    // Over one 5 MiB part: a multipart upload of three parts.
    let file: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let response = http
        .post(one.url(&format!("/api/rooms/{room}/attachments")))
        .query(&[("name", "data.bin")])
        .bearer_auth(&alice.token)
        .body(file.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    let attachment: Value = response.json().await.expect("an attachment");
    assert_eq!(attachment["size"], file.len());
    let id = attachment["id"].as_i64().expect("id");
    let (status, sent) = one
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&alice.token),
            json!({"text": "the data", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");

    let response = http
        .get(two.url(&format!("/api/attachments/{id}")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("fetch");
    assert_eq!(response.status().as_u16(), 200);
    let served = response.bytes().await.expect("bytes");
    assert!(
        served.as_ref() == file.as_slice(),
        "the other node serves the same bytes"
    );

    let listing = http
        .get(format!(
            "{}/{BUCKET}?list-type=2&prefix=chat/",
            moto.endpoint
        ))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("listing");
    assert!(listing.contains("chat/attachments/"), "{listing}");
    for node in [&one, &two] {
        let local = node.dir.as_ref().expect("data dir").path().join("files");
        let empty = std::fs::read_dir(&local).map_or(true, |mut d| d.next().is_none());
        assert!(empty, "nothing stored on a node's disk");
    }
}
