//! The `sotong` binary as an operator runs it: it logs `listening on http://ADDR` when ready,
//! takes its settings from flags and `SOTONG_*` variables, and exits 0 on SIGTERM after draining.

use sotong_testkit::ServedBinary;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn start(extra_env: &[(&str, &str)], dir: &std::path::Path) -> ServedBinary {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sotong"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "info")
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        command.env(k, v);
    }
    ServedBinary::start(&mut command)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("sotong did not exit within 15 s of SIGTERM");
        }
    }
}

#[test]
fn serves_then_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &[("SOTONG_JWT_SECRET", "a-secret-of-sufficient-length")],
        dir.path(),
    );
    let health = http_get(&server.addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    sigterm(&server.child);
    let status = wait_exit(server.child);
    assert!(status.success(), "exit status {status:?}");
    // The reader thread ends at stdout's EOF, after the process exited: read to the end.
    let rest: Vec<String> = server.lines.iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(
        dir.path().join("sotong.db").exists(),
        "the store lives in --data-dir"
    );
}

#[test]
fn exits_zero_on_sigterm_when_its_output_is_gone() {
    // Both streams into pipes whose read ends close once it serves, as when the program that
    // read the log (a terminal, `| sed`, `| head`) has gone.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sotong"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sotong");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let addr = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("listening on http://")
                .nth(1)
                .map(|addr| addr.trim().to_string())
        })
        .expect("a ready line");
    drop(child.stderr.take());
    // The reader is dropped with the iterator: from here on every log line fails to write.
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    sigterm(&child);
    let status = wait_exit(child);
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn refuses_an_invalid_configuration_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_sotong"))
        .args(["serve", "--listen", "127.0.0.1:0", "--jwt-secret", "short"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT secret"), "{stderr}");
}

#[test]
fn reads_a_toml_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sotong.toml");
    let data = dir.path().join("store");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[auth]\njwt_secret = \"from-the-config-file-0123\"\n[limits]\nmax_message_chars = 100\n",
            data.display().to_string()
        ),
    )
    .expect("write config");
    let ServedBinary { child, addr, .. } = ServedBinary::start(
        Command::new(env!("CARGO_BIN_EXE_sotong"))
            .args(["serve", "--config"])
            .arg(&config),
    );
    assert!(data.join("sotong.db").exists(), "data_dir from the file");
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    sigterm(&child);
    assert!(wait_exit(child).success());
}

/// A minimal HTTP/1.1 GET over a plain socket, to keep this test free of client crates.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}
