//! `sotong bench` end to end: a tiny run against a real sotong server in this process, on
//! an ephemeral port with a temporary data dir; and one against two such nodes on a scratch
//! PostgreSQL database and the machine's Redis, sending on one and receiving on the other.

use clap::Parser;
use serde_json::Value;
use sotong_cli::bench::{run, BenchArgs};
use sotong_testkit::{redis_url, TestServer, JWT_SECRET};
use std::time::Duration;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_bench_against_sotong_delivers_everything_without_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::spawn().await;
    let report = dir.path().join("report.jsonl");
    let plot = dir.path().join("latency.svg");
    let url = server.ws_url();
    let args = Cli::try_parse_from([
        "bench",
        "--url",
        &url,
        "--jwt-secret",
        JWT_SECRET,
        "--connections",
        "20",
        "--room-size",
        "5",
        "--rate",
        "40",
        "--duration",
        "2",
        "--warmup",
        "1",
        "--drain",
        "1",
        "--receipts",
        "--source-addrs",
        "2",
        "--user-prefix",
        "it",
        "--no-progress",
        "--output",
        report.to_str().expect("utf-8 path"),
        "--plot",
        plot.to_str().expect("utf-8 path"),
    ])
    .expect("valid arguments")
    .bench;
    tokio::time::timeout(Duration::from_secs(60), run(args))
        .await
        .expect("the bench ends by itself")
        .expect("the bench succeeds");
    server.shutdown.cancel();

    let text = std::fs::read_to_string(&report).expect("the report");
    let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line["connections"]["open"], 20, "{line}");
    assert_eq!(line["rooms"], 4);
    assert_eq!(line["errors"], 0, "{line}");
    let result = &line["result"];
    assert!(
        result["deliveries"].as_u64().expect("deliveries") > 0,
        "{line}"
    );
    assert_eq!(result["missing_deliveries"], 0, "{line}");
    // Every SEND goes to the 5 members of its room, the sender included.
    assert_eq!(
        result["expected_deliveries"].as_u64(),
        result["sends"].as_u64().map(|s| s * 5)
    );
    assert!(result["latency"]["p99_ms"].as_f64().expect("p99") > 0.0);
    assert!(
        result["receipts"]["count"].as_u64().expect("receipts") > 0,
        "{line}"
    );
    assert!(std::fs::read_to_string(&plot)
        .expect("the plot")
        .contains("<polyline"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_nodes_the_report_counts_what_crossed_and_what_redis_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let report = dir.path().join("report.jsonl");
    let (send_url, receive_url) = (one.ws_url(), two.ws_url());
    let pid = std::process::id().to_string();
    let redis = redis_url();
    let args = Cli::try_parse_from([
        "bench",
        "--url",
        &send_url,
        "--receive-url",
        &receive_url,
        "--jwt-secret",
        JWT_SECRET,
        "--connections",
        "20",
        "--room-size",
        "5",
        // One publisher per room: the other four members of each room are on node two.
        "--publishers",
        "4",
        "--rate",
        "40",
        "--duration",
        "2",
        "--warmup",
        "1",
        "--drain",
        "1",
        "--source-addrs",
        "2",
        "--user-prefix",
        "cluster-it",
        "--server-pid",
        &pid,
        "--redis-stats",
        &redis,
        "--no-progress",
        "--output",
        report.to_str().expect("utf-8 path"),
    ])
    .expect("valid arguments")
    .bench;
    tokio::time::timeout(Duration::from_secs(60), run(args))
        .await
        .expect("the bench ends by itself")
        .expect("the bench succeeds");
    two.stop().await;
    one.stop().await;

    let text = std::fs::read_to_string(&report).expect("the report");
    let line: Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line["errors"], 0, "{line}");
    assert_eq!(line["publishers"], 4, "{line}");
    let by_url = &line["connections"]["open_by_url"];
    assert_eq!(by_url[0]["url"], send_url.as_str());
    assert_eq!(by_url[0]["open"], 4, "{line}");
    assert_eq!(by_url[1]["url"], receive_url.as_str());
    assert_eq!(by_url[1]["open"], 16, "{line}");
    let result = &line["result"];
    assert_eq!(result["missing_deliveries"], 0, "{line}");
    assert!(result["deliveries"].as_u64().expect("deliveries") > 0);
    // Four of every five copies (all but the sender's own) reached node two through Redis.
    let totals = &line["totals"];
    let all = totals["deliveries"].as_f64().expect("deliveries");
    let across = totals["deliveries_across_nodes"].as_f64().expect("across");
    assert!(
        (across / all - 0.8).abs() < 0.05,
        "{across} of {all} deliveries crossed: {line}"
    );
    assert!(
        result["across_nodes_deliveries_per_sec"]
            .as_f64()
            .expect("across nodes per second")
            > 0.0,
        "{line}"
    );
    assert!(result["server_cpu"]["cpu_secs"].is_number(), "{line}");
    // Node one publishes each message once per member: at least five commands per SEND (more
    // when something else uses the same Redis meanwhile).
    let per_send = result["redis"]["commands_per_send"]
        .as_f64()
        .expect("Redis commands per send");
    assert!(
        per_send >= 4.5,
        "{per_send} Redis commands per send: {line}"
    );
    assert!(
        result["redis"]["output_bytes_per_send"]
            .as_f64()
            .expect("Redis bytes out per send")
            > 0.0
    );
}

#[tokio::test]
async fn refuses_a_server_that_is_not_on_loopback() {
    let args = Cli::try_parse_from([
        "bench",
        "--url",
        "ws://192.0.2.1:80/ws",
        "--jwt-secret",
        JWT_SECRET,
    ])
    .expect("valid arguments")
    .bench;
    let err = run(args).await.expect_err("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}
