//! Redis's own counters (`INFO`), read at the edges of each measurement window, so that a run
//! against a cluster reports what its messages cost Redis: commands, bytes in and out per
//! SEND, and which process to read Redis's CPU time from.
//!
//! A plain TCP connection per sample and no Redis client library: the bench needs one
//! command (two with a password) and one bulk reply, twice per window. Redis counts the
//! whole server, so anything else using the same Redis during a window is in the figures
//! too; measure on a quiet machine.

use anyhow::{bail, Context};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one sample may take; a Redis that does not answer in time leaves the window's
/// Redis figures out rather than stalling the bench.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest `INFO` reply the bench reads (a few KiB in practice).
const MAX_REPLY_BYTES: usize = 1 << 20;

/// Where Redis is, and how to sign in to it.
#[derive(Debug, Clone)]
pub(crate) struct RedisTarget {
    addr: SocketAddr,
    /// `AUTH` arguments: the user name (Redis 6 ACLs) and the password.
    auth: Option<(Option<String>, String)>,
}

/// The parts of a `redis://[user:password@]host[:port][/db]` URL the bench needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RedisUrl {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

fn parse_url(url: &str) -> anyhow::Result<RedisUrl> {
    let rest = url
        .strip_prefix("redis://")
        .context("--redis-stats must be redis://[user:password@]host[:port] (no TLS)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .with_context(|| format!("--redis-stats: bad port in {host_port}"))?,
        ),
        None => (host_port, 6379),
    };
    if host.is_empty() {
        bail!("--redis-stats has no host");
    }
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, password)) => (
                (!user.is_empty()).then(|| user.to_string()),
                Some(password.to_string()),
            ),
            None => (Some(info.to_string()), None),
        },
    };
    Ok(RedisUrl {
        host: host.to_string(),
        port,
        user,
        password,
    })
}

impl RedisTarget {
    /// Resolves `url`; only a loopback Redis unless `allow_remote`, as for the server.
    pub(crate) async fn resolve(url: &str, allow_remote: bool) -> anyhow::Result<RedisTarget> {
        let parsed = parse_url(url)?;
        let host_port = format!("{}:{}", parsed.host, parsed.port);
        let addr = tokio::net::lookup_host(&host_port)
            .await
            .with_context(|| format!("resolving {host_port}"))?
            .find(SocketAddr::is_ipv4)
            .with_context(|| format!("{host_port} has no IPv4 address"))?;
        if !addr.ip().is_loopback() && !allow_remote {
            bail!("{addr} is not a loopback address; pass --allow-remote to read it anyway");
        }
        Ok(RedisTarget {
            addr,
            auth: parsed.password.map(|password| (parsed.user, password)),
        })
    }

    /// Reads Redis's counters now.
    ///
    /// # Errors
    /// Redis unreachable, refusing the password, or not answering within [`SAMPLE_TIMEOUT`].
    pub(crate) async fn sample(&self) -> anyhow::Result<RedisInfo> {
        tokio::time::timeout(SAMPLE_TIMEOUT, self.sample_inner())
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer INFO within {SAMPLE_TIMEOUT:?}"))?
    }

    async fn sample_inner(&self) -> anyhow::Result<RedisInfo> {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to Redis at {}", self.addr))?;
        let mut buf = Vec::new();
        if let Some((user, password)) = &self.auth {
            let mut args = vec!["AUTH"];
            if let Some(user) = user {
                args.push(user);
            }
            args.push(password);
            stream.write_all(&command(&args)).await?;
            match read_reply(&mut stream, &mut buf).await? {
                Reply::Simple(_) => {}
                Reply::Error(why) => bail!("Redis refused AUTH: {why}"),
                Reply::Bulk(_) => bail!("an unexpected answer to AUTH"),
            }
        }
        stream.write_all(&command(&["INFO"])).await?;
        match read_reply(&mut stream, &mut buf).await? {
            Reply::Bulk(text) => Ok(parse_info(&String::from_utf8_lossy(&text))),
            Reply::Error(why) | Reply::Simple(why) => bail!("an unexpected answer to INFO: {why}"),
        }
    }
}

/// A command as a RESP array of bulk strings.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The replies the bench can get.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `$n` followed by n bytes (`$-1`, nil, is an empty one).
    Bulk(Vec<u8>),
}

/// One reply from the start of `buf` and the bytes it took, or `None` while incomplete.
fn parse_reply(buf: &[u8]) -> anyhow::Result<Option<(Reply, usize)>> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&buf[1..eol]).into_owned();
    match buf.first() {
        Some(b'+') => Ok(Some((Reply::Simple(line), eol + 2))),
        Some(b'-') => Ok(Some((Reply::Error(line), eol + 2))),
        Some(b'$') => {
            let len: i64 = line.parse().context("a bulk reply's length")?;
            if len < 0 {
                return Ok(Some((Reply::Bulk(Vec::new()), eol + 2)));
            }
            let len = usize::try_from(len).context("a bulk reply's length")?;
            if len > MAX_REPLY_BYTES {
                bail!("a Redis reply of {len} bytes: more than the bench reads");
            }
            let start = eol + 2;
            if buf.len() < start + len + 2 {
                return Ok(None);
            }
            Ok(Some((
                Reply::Bulk(buf[start..start + len].to_vec()),
                start + len + 2,
            )))
        }
        _ => bail!("not a RESP reply: {}", String::from_utf8_lossy(buf)),
    }
}

async fn read_reply(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Reply> {
    loop {
        if let Some((reply, used)) = parse_reply(buf)? {
            buf.drain(..used);
            return Ok(reply);
        }
        let mut chunk = [0u8; 8192];
        let n = stream
            .read(&mut chunk)
            .await
            .context("reading from Redis")?;
        if n == 0 {
            bail!("Redis closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Redis's counters at one moment (`INFO`'s `server` and `stats` sections).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RedisInfo {
    /// `process_id`: whose CPU time is Redis's.
    pub(crate) process_id: Option<u32>,
    /// `total_commands_processed`.
    pub(crate) commands: u64,
    /// `total_net_input_bytes`.
    pub(crate) net_input_bytes: u64,
    /// `total_net_output_bytes`.
    pub(crate) net_output_bytes: u64,
    /// `pubsub_channels`: channels with at least one subscriber.
    pub(crate) pubsub_channels: u64,
}

fn parse_info(text: &str) -> RedisInfo {
    let mut info = RedisInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        let number = || value.parse::<u64>().ok();
        match key {
            "process_id" => info.process_id = value.parse().ok(),
            "total_commands_processed" => info.commands = number().unwrap_or_default(),
            "total_net_input_bytes" => info.net_input_bytes = number().unwrap_or_default(),
            "total_net_output_bytes" => info.net_output_bytes = number().unwrap_or_default(),
            "pubsub_channels" => info.pubsub_channels = number().unwrap_or_default(),
            _ => {}
        }
    }
    info
}

/// What Redis did during a window, in all and per SEND made in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct RedisUse {
    /// Commands processed (every client's, the bench's two `INFO`s included).
    pub(crate) commands: u64,
    /// Bytes Redis read from its clients.
    pub(crate) net_input_bytes: u64,
    /// Bytes Redis wrote to its clients (pub/sub deliveries included).
    pub(crate) net_output_bytes: u64,
    /// Channels with a subscriber at the window's end.
    pub(crate) pubsub_channels: u64,
    /// Commands per SEND of the window (sotong: `PUBLISH`es per message).
    pub(crate) commands_per_send: Option<f64>,
    /// Bytes in per SEND.
    pub(crate) input_bytes_per_send: Option<f64>,
    /// Bytes out per SEND.
    pub(crate) output_bytes_per_send: Option<f64>,
}

impl RedisUse {
    /// The difference between two samples, over `sends` SENDs.
    pub(crate) fn between(start: RedisInfo, end: RedisInfo, sends: u64) -> RedisUse {
        let commands = end.commands.saturating_sub(start.commands);
        let net_input_bytes = end.net_input_bytes.saturating_sub(start.net_input_bytes);
        let net_output_bytes = end.net_output_bytes.saturating_sub(start.net_output_bytes);
        let per_send =
            |n: u64| (sends > 0).then(|| (n as f64 / sends as f64 * 1000.0).round() / 1000.0);
        RedisUse {
            commands,
            net_input_bytes,
            net_output_bytes,
            pubsub_channels: end.pubsub_channels,
            commands_per_send: per_send(commands),
            input_bytes_per_send: per_send(net_input_bytes),
            output_bytes_per_send: per_send(net_output_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_credentials() {
        let plain = parse_url("redis://127.0.0.1:6380").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 6380));
        assert_eq!((plain.user, plain.password), (None, None));
        let default_port = parse_url("redis://localhost/0").unwrap();
        assert_eq!(default_port.port, 6379);
        let acl = parse_url("redis://bench:s3cret@127.0.0.1:6379/2").unwrap();
        assert_eq!(acl.user.as_deref(), Some("bench"));
        assert_eq!(acl.password.as_deref(), Some("s3cret"));
        let password_only = parse_url("redis://:s3cret@127.0.0.1").unwrap();
        assert_eq!(password_only.user, None);
        assert_eq!(password_only.password.as_deref(), Some("s3cret"));
        assert!(parse_url("rediss://127.0.0.1").is_err());
        assert!(parse_url("redis://127.0.0.1:port").is_err());
        assert!(parse_url("redis://:6379").is_err());
    }

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(command(&["INFO"]), b"*1\r\n$4\r\nINFO\r\n");
        assert_eq!(
            command(&["AUTH", "u", "pw"]),
            b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n"
        );
    }

    #[test]
    fn replies_are_parsed_when_complete() {
        assert_eq!(
            parse_reply(b"+OK\r\nrest").unwrap(),
            Some((Reply::Simple("OK".into()), 5))
        );
        assert_eq!(
            parse_reply(b"-WRONGPASS no\r\n").unwrap(),
            Some((Reply::Error("WRONGPASS no".into()), 15))
        );
        assert_eq!(parse_reply(b"$5\r\nhel").unwrap(), None);
        assert_eq!(parse_reply(b"+O").unwrap(), None);
        assert_eq!(
            parse_reply(b"$5\r\nhello\r\n").unwrap(),
            Some((Reply::Bulk(b"hello".to_vec()), 11))
        );
        assert_eq!(
            parse_reply(b"$-1\r\n").unwrap(),
            Some((Reply::Bulk(Vec::new()), 5))
        );
        assert!(parse_reply(b"?what\r\n").is_err());
        assert!(parse_reply(b"$99999999999\r\n").is_err());
    }

    #[test]
    fn info_gives_the_counters_per_send() {
        let start = parse_info(
            "# Server\r\nredis_version:7.0.15\r\nprocess_id:2277\r\n# Stats\r\n\
             total_commands_processed:100\r\ntotal_net_input_bytes:1000\r\n\
             total_net_output_bytes:5000\r\npubsub_channels:3\r\n",
        );
        assert_eq!(start.process_id, Some(2277));
        assert_eq!(start.commands, 100);
        let end = RedisInfo {
            commands: 1100,
            net_input_bytes: 41_000,
            net_output_bytes: 45_000,
            pubsub_channels: 900,
            ..start
        };
        let used = RedisUse::between(start, end, 100);
        assert_eq!(used.commands, 1000);
        assert_eq!(used.commands_per_send, Some(10.0));
        assert_eq!(used.input_bytes_per_send, Some(400.0));
        assert_eq!(used.output_bytes_per_send, Some(400.0));
        assert_eq!(used.pubsub_channels, 900);
        assert_eq!(RedisUse::between(start, end, 0).commands_per_send, None);
        assert_eq!(parse_info("garbage"), RedisInfo::default());
    }
}
