//! Acknowledged means durable: clients send with receipts while the server is killed with
//! SIGKILL at random moments, round after round. After each restart every receipted message
//! is in the history exactly once, with the seq its receipt named, and seqs have no gaps.

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use sotong_stomp::{encode, Command, Decoder, Frame, Limits, Version};
use sotong_testkit::{jwt, ServedBinary, JWT_SECRET};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 8;
const SENDERS: usize = 3;

/// Starts the binary and returns it with its address once it logs that it listens.
fn start(dir: &std::path::Path) -> (Child, String) {
    let served = ServedBinary::start(
        Process::new(env!("CARGO_BIN_EXE_sotong"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--send-rate",
                "100000",
                "--send-burst",
                "100000",
                "--data-dir",
            ])
            .arg(dir)
            .env("SOTONG_JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "info")
            .stderr(Stdio::null()),
    );
    (served.child, served.addr)
}

/// One sender: pipelines SENDs with receipts until the socket dies; records what was receipted.
async fn send_until_killed(
    addr: String,
    token: String,
    room: i64,
    sender: usize,
    receipted: Arc<Mutex<HashMap<String, u64>>>,
    round: usize,
    first_receipt: Arc<tokio::sync::Notify>,
) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await else {
        return;
    };
    let mut out = BytesMut::new();
    let connect = Frame::new(Command::Connect)
        .with_header("accept-version", "1.2")
        .with_header("Authorization", format!("Bearer {token}"));
    encode(&connect, Version::V1_2, &mut out);
    let mut decoder = Decoder::new(Limits::default());
    let mut inbox = BytesMut::new();
    if ws
        .send(Message::Binary(out.split().freeze()))
        .await
        .is_err()
    {
        return;
    }
    let mut next = 0usize;
    let mut in_flight: HashMap<String, String> = HashMap::new();
    loop {
        while in_flight.len() < 16 {
            let id = format!("r{round}-s{sender}-{next}");
            next += 1;
            let frame = Frame::new(Command::Send)
                .with_header("destination", format!("/app/rooms/{room}"))
                .with_header("client-msg-id", id.clone())
                .with_header("receipt", id.clone())
                .with_body(format!("{{\"text\":\"{id}\"}}").into_bytes());
            encode(&frame, Version::V1_2, &mut out);
            in_flight.insert(id.clone(), id);
        }
        if ws
            .send(Message::Binary(out.split().freeze()))
            .await
            .is_err()
        {
            return;
        }
        let Some(Ok(msg)) = ws.next().await else {
            return;
        };
        inbox.extend_from_slice(&msg.into_data());
        while let Ok(Some(frame)) = decoder.decode(&mut inbox) {
            if frame.command == Command::Receipt {
                let (Some(id), Some(seq)) = (frame.header("receipt-id"), frame.header("seq"))
                else {
                    continue;
                };
                if let Some(client_id) = in_flight.remove(id) {
                    let seq = seq.parse().expect("seq");
                    receipted.lock().expect("lock").insert(client_id, seq);
                    first_receipt.notify_one();
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipted_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let alice = jwt("alice", 3600);
    let bob = jwt("bob", 3600);

    let (mut child, addr) = start(dir.path());
    for token in [&alice, &bob] {
        let me = http
            .get(format!("http://{addr}/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 200);
    }
    let room: serde_json::Value = http
        .post(format!("http://{addr}/api/rooms/direct"))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"username": "bob"}))
        .send()
        .await
        .expect("room")
        .json()
        .await
        .expect("json");
    let room = room["id"].as_i64().expect("room id");

    let receipted = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    let mut addr = addr;
    for round in 0..ROUNDS {
        let first_receipt = Arc::new(tokio::sync::Notify::new());
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let token = if s % 2 == 0 {
                    alice.clone()
                } else {
                    bob.clone()
                };
                tokio::spawn(send_until_killed(
                    addr.clone(),
                    token,
                    room,
                    s,
                    receipted.clone(),
                    round,
                    first_receipt.clone(),
                ))
            })
            .collect();
        // Once traffic flows, crash at a random moment within the next few hundred ms.
        first_receipt.notified().await;
        let pause = rand::thread_rng().gen_range(0..300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        for s in senders {
            s.await.expect("sender");
        }
        let (next_child, next_addr) = start(dir.path());
        child = next_child;
        addr = next_addr;

        // Every receipted message is there, once, with its seq; seqs run 1..=n with no gap.
        let mut seen = HashSet::new();
        let mut by_client_id = HashMap::new();
        let mut after = 0u64;
        loop {
            let page: Vec<serde_json::Value> = http
                .get(format!(
                    "http://{addr}/api/rooms/{room}/messages?after={after}&limit=200"
                ))
                .bearer_auth(&alice)
                .send()
                .await
                .expect("history")
                .json()
                .await
                .expect("json");
            if page.is_empty() {
                break;
            }
            for m in &page {
                let seq = m["seq"].as_u64().expect("seq");
                assert_eq!(seq, after + 1, "round {round}: seqs have no gaps");
                after = seq;
                let id = m["clientMsgId"].as_str().expect("client id").to_string();
                assert!(seen.insert(id.clone()), "round {round}: {id} stored twice");
                by_client_id.insert(id, seq);
            }
        }
        let receipted = receipted.lock().expect("lock");
        for (id, seq) in receipted.iter() {
            assert_eq!(
                by_client_id.get(id),
                Some(seq),
                "round {round}: receipted {id} lost or moved"
            );
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        receipted.lock().expect("lock").len() > 100,
        "the test exercised enough sends"
    );
}
