//! The `sotong` binary started as an operator starts it, for tests that need a real process
//! (signals, exit codes, crashes). Owns reading its start-up log; how it is configured and
//! stopped is the test's.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What the binary logs once it serves, followed by its address.
const READY: &str = "listening on http://";

/// How long the binary may take to log that it serves.
const START_UP: Duration = Duration::from_secs(20);

/// A running `sotong serve` and the lines of its standard output.
#[derive(Debug)]
pub struct ServedBinary {
    /// The process; killing or signalling it, and reaping it, is the test's.
    pub child: Child,
    /// The address it logged that it listens on (`IP:PORT`).
    pub addr: String,
    /// Every stdout line after the ready line, as the process writes them; the channel ends
    /// when the process's stdout does (after it exited).
    pub lines: mpsc::Receiver<String>,
}

impl ServedBinary {
    /// Spawns `command` (a `sotong serve …`) with its stdout piped and waits until it logs
    /// that it listens. Standard output is read to its end even when nobody wants the lines,
    /// so a chatty server never blocks on a full pipe.
    pub fn start(command: &mut Command) -> ServedBinary {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sotong");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test may have dropped the receiver: keep draining all the same.
                let _ = tx.send(line);
            }
        });
        let addr = loop {
            let line = lines.recv_timeout(START_UP).expect("a ready line");
            if let Some(addr) = ready_address(&line) {
                break addr;
            }
        };
        ServedBinary { child, addr, lines }
    }
}

/// The address in the binary's ready line, if `line` is that line.
fn ready_address(line: &str) -> Option<String> {
    line.split(READY).nth(1).map(|rest| rest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_ready_line_only() {
        let line = "2026-01-01T00:00:00Z  INFO sotong: listening on http://127.0.0.1:40123 ";
        assert_eq!(ready_address(line).as_deref(), Some("127.0.0.1:40123"));
        assert_eq!(ready_address("INFO sotong: opened the store"), None);
    }
}
