//! Before the load: where the server is, who connects as whom, which rooms exist, and the
//! connections themselves (TCP from a chosen loopback source address, the WebSocket
//! upgrade, STOMP `CONNECT`, `SUBSCRIBE`s confirmed by a receipt).
//!
//! Two profiles:
//! - **sotong**: users are HS256 JWTs signed with the server's secret (created on first use),
//!   rooms are made through the HTTP API, and every connection subscribes to its room's
//!   topic, `/user/queue/notifications` and `/user/queue/errors`.
//! - **stomp**, any broker: `login`/`passcode`, rooms are just destination names from
//!   templates (`{room}`, `{user}`, `{conn}` are filled in).

use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sotong_model::RoomId;
use sotong_stomp::{encode, Command, Decoder, Frame, Version};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A bench connection's socket.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// The receipt id of the last SUBSCRIBE: when it comes back, every subscription is live.
const SUBSCRIBED: &str = "bench-subscribed";

/// Where the server is.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The WebSocket URL as given.
    pub(crate) url: String,
    /// Its address, resolved.
    pub(crate) addr: SocketAddr,
    /// `http://host:port` for the sotong profile's API calls.
    pub(crate) http_base: String,
}

impl Target {
    /// Resolves `url` (`ws://host:port/path`). Only loopback servers are accepted unless
    /// `allow_remote`: a load test aimed at someone else's server by mistake is an attack.
    pub(crate) async fn resolve(url: &str, allow_remote: bool) -> anyhow::Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("parsing --url {url}"))?;
        if uri.scheme_str() != Some("ws") {
            bail!("--url must be ws://HOST:PORT/PATH (TLS is not supported by the bench)");
        }
        let host = uri.host().context("--url has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let host_port = format!("{host}:{port}");
        let addr = tokio::net::lookup_host(&host_port)
            .await
            .with_context(|| format!("resolving {host_port}"))?
            .find(SocketAddr::is_ipv4)
            .with_context(|| format!("{host_port} has no IPv4 address"))?;
        if !addr.ip().is_loopback() && !allow_remote {
            bail!("{addr} is not a loopback address; pass --allow-remote to load-test it anyway");
        }
        Ok(Target {
            url: url.to_string(),
            addr,
            http_base: format!("http://{host_port}"),
        })
    }
}

/// The `n` loopback source addresses 127.0.0.1 … 127.0.0.n, so that a server's per-address
/// connection cap (and the 28,000-odd ephemeral ports of one address) do not bound the bench.
pub(crate) fn source_addresses(n: u8) -> Vec<IpAddr> {
    (1..=n.max(1))
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect()
}

/// Which target each connection opens to: publishers to the first (`--url`, index 0), every
/// other connection to the receiving targets 1 ..= `receivers` in turn (`--receive-url`), or
/// to the first too when there are none. With one publisher per room, every member of a room
/// but its publisher is then on another node, so each delivery but the sender's own copy
/// crosses the cluster's broker.
pub(crate) fn connection_homes(
    connections: usize,
    publishing: &std::collections::HashSet<usize>,
    receivers: usize,
) -> Vec<usize> {
    let mut turn = 0;
    (0..connections)
        .map(|i| {
            if receivers == 0 || publishing.contains(&i) {
                0
            } else {
                turn += 1;
                1 + (turn - 1) % receivers
            }
        })
        .collect()
}

/// Fills `{room}`, `{user}` and `{conn}` in a destination template.
pub(crate) fn expand(template: &str, room: &str, user: &str, conn: usize) -> String {
    template
        .replace("{room}", room)
        .replace("{user}", user)
        .replace("{conn}", &conn.to_string())
}

/// Everything one connection needs to set itself up.
#[derive(Debug, Clone)]
pub(crate) struct ConnPlan {
    /// The encoded CONNECT frame.
    pub(crate) connect: Vec<u8>,
    /// The encoded SUBSCRIBE frames, the last one asking for the [`SUBSCRIBED`] receipt.
    pub(crate) subscribe: Vec<u8>,
    /// Where this connection's SENDs go.
    pub(crate) publish_to: String,
    /// Its room (index).
    pub(crate) room: usize,
}

/// A user name of the bench: `{prefix}-{index}`.
pub(crate) fn username(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index}")
}

/// Checks a user prefix against sotong's username rule (3–32 of `a-z 0-9 _ . -`), leaving
/// room for `-{index}`.
pub(crate) fn check_prefix(prefix: &str, connections: usize) -> anyhow::Result<()> {
    let longest = username(prefix, connections.saturating_sub(1)).len();
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        || !(3..=32).contains(&longest)
    {
        bail!("--user-prefix must be a-z 0-9 _ . - and leave usernames of 3 to 32 characters");
    }
    Ok(())
}

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        encode(frame, Version::V1_2, &mut buf);
    }
    buf.to_vec()
}

fn connect_frame(host: &str, headers: &[(&str, &str)]) -> Frame {
    // No heart-beats either way: they would be load the bench does not measure.
    let mut frame = Frame::new(Command::Connect)
        .with_header("accept-version", "1.2")
        .with_header("host", host)
        .with_header("heart-beat", "0,0");
    for (name, value) in headers {
        frame = frame.with_header(*name, *value);
    }
    frame
}

fn subscribe_frames(destinations: &[String]) -> Vec<u8> {
    let last = destinations.len().saturating_sub(1);
    let frames: Vec<Frame> = destinations
        .iter()
        .enumerate()
        .map(|(i, destination)| {
            let frame = Frame::new(Command::Subscribe)
                .with_header("id", i.to_string())
                .with_header("destination", destination.as_str())
                .with_header("ack", "auto");
            if i == last {
                frame.with_header("receipt", SUBSCRIBED)
            } else {
                frame
            }
        })
        .collect();
    encoded(&frames)
}

/// How the connections are grouped, and what their users are called.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) connections: usize,
    /// Members per room: consecutive connections share a room.
    pub(crate) room_size: usize,
    /// Usernames are `{prefix}-{index}`.
    pub(crate) prefix: String,
}

/// How to sign in to sotong.
#[derive(Debug, Clone)]
pub(crate) struct SotongProfile {
    /// The server's `--jwt-secret`.
    pub(crate) jwt_secret: String,
    /// How long the JWTs live: longer than the run.
    pub(crate) token_ttl: Duration,
}

/// Destinations and credentials of a plain STOMP broker.
#[derive(Debug, Clone)]
pub(crate) struct StompProfile {
    pub(crate) login: String,
    pub(crate) passcode: String,
    pub(crate) vhost: String,
    pub(crate) room_destination: String,
    pub(crate) publish_destination: String,
    pub(crate) notify_destination: String,
}

/// The plans of a plain STOMP broker's connections: rooms of `room_size` consecutive
/// connections.
pub(crate) fn plan_stomp(profile: &StompProfile, layout: &Layout) -> Vec<ConnPlan> {
    (0..layout.connections)
        .map(|i| {
            let room = i / layout.room_size;
            let user = username(&layout.prefix, i);
            let room_name = room.to_string();
            let mut subscriptions = vec![expand(&profile.room_destination, &room_name, &user, i)];
            if !profile.notify_destination.is_empty() {
                subscriptions.push(expand(&profile.notify_destination, &room_name, &user, i));
            }
            ConnPlan {
                connect: encoded(&[connect_frame(
                    &profile.vhost,
                    &[
                        ("login", profile.login.as_str()),
                        ("passcode", profile.passcode.as_str()),
                    ],
                )]),
                subscribe: subscribe_frames(&subscriptions),
                publish_to: expand(&profile.publish_destination, &room_name, &user, i),
                room,
            }
        })
        .collect()
}

/// An HS256 JWT for `username`, as an application backend would issue it.
pub(crate) fn jwt(username: &str, secret: &str, ttl: Duration) -> anyhow::Result<String> {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + ttl.as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": username, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .context("signing a JWT")
}

/// Creates sotong users and rooms over HTTP and returns each connection's plan.
///
/// Users are created on first use of their JWT (`GET /api/me`), which makes provisioning
/// idempotent: a second run with the same `--user-prefix` reuses them. Rooms are new each run:
/// a group per `room_size` consecutive users (`POST /api/rooms`), or the direct room of each
/// pair for rooms of 2 (`POST /api/rooms/direct`, the same room every time).
pub(crate) async fn provision_sotong(
    target: &Target,
    profile: &SotongProfile,
    layout: &Layout,
    concurrency: usize,
    mut progress: impl FnMut(),
) -> anyhow::Result<Vec<ConnPlan>> {
    let Layout {
        connections,
        room_size,
        ref prefix,
    } = *layout;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let users: Vec<String> = (0..connections).map(|i| username(prefix, i)).collect();
    let tokens = users
        .iter()
        .map(|u| jwt(u, &profile.jwt_secret, profile.token_ttl))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Every member but each room's first, who is created by its own room request.
    let base = target.http_base.as_str();
    let mut created = futures_util::stream::iter(
        (0..connections)
            .filter(|i| i % room_size != 0)
            .map(|i| api(&http, base, "GET", "/api/me", &tokens[i], None)),
    )
    .buffer_unordered(concurrency);
    while let Some(result) = created.next().await {
        result.context("creating a user (GET /api/me)")?;
        progress();
    }
    drop(created);
    let rooms = connections / room_size;
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut made = futures_util::stream::iter((0..rooms).map(|r| {
        let owner = r * room_size;
        let (path, body) = if room_size == 2 {
            ("/api/rooms/direct", json!({ "username": users[owner + 1] }))
        } else {
            let members = &users[owner + 1..owner + room_size];
            (
                "/api/rooms",
                json!({ "name": format!("bench {run} #{r}"), "members": members }),
            )
        };
        let request = api(&http, base, "POST", path, &tokens[owner], Some(body));
        async move { (r, request.await) }
    }))
    .buffer_unordered(concurrency);
    let mut room_ids = vec![RoomId::default(); rooms];
    while let Some((r, result)) = made.next().await {
        let room = result.context("creating a room")?;
        room_ids[r] = room["id"]
            .as_i64()
            .map(RoomId)
            .ok_or_else(|| anyhow!("a room without an id: {room}"))?;
        progress();
    }
    drop(made);
    Ok((0..connections)
        .map(|i| {
            let room = i / room_size;
            let id = room_ids[room];
            let bearer = format!("Bearer {}", tokens[i]);
            ConnPlan {
                connect: encoded(&[connect_frame("localhost", &[("Authorization", &bearer)])]),
                subscribe: subscribe_frames(&[
                    format!("/topic/rooms/{id}"),
                    "/user/queue/notifications".into(),
                    "/user/queue/errors".into(),
                ]),
                publish_to: format!("/app/rooms/{id}"),
                room,
            }
        })
        .collect())
}

/// One JSON call of sotong's HTTP API as `token`'s user; its answer, or an error carrying the
/// server's.
pub(crate) async fn api(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let request = match method {
        "GET" => http.get(&url),
        _ => http.post(&url),
    }
    .bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{method} {path}: {status} {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
}

/// A sotong connection's plan for `token`'s user with only `destinations` subscribed (no
/// room: `room` and `publish_to` are left empty), for benches that send nothing to rooms.
pub(crate) fn sotong_plan(token: &str, destinations: &[String]) -> ConnPlan {
    let bearer = format!("Bearer {token}");
    ConnPlan {
        connect: encoded(&[connect_frame("localhost", &[("Authorization", &bearer)])]),
        subscribe: subscribe_frames(destinations),
        publish_to: String::new(),
        room: 0,
    }
}

/// The WebSocket settings of a bench connection: small buffers, since thousands of
/// connections each carry a few hundred bytes at a time (tungstenite's defaults are 128 KiB
/// each way, the read side allocated up front). Writes wait in the buffer for the connection
/// task's one flush per batch.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(64 << 20)
}

/// Opens one connection from `source`, CONNECTs and SUBSCRIBEs, and waits for the receipt
/// that says every subscription is live. Any other frame before it (a room announcement, say)
/// is skipped.
///
/// # Errors
/// A refused TCP connection or upgrade, an `ERROR` frame, or no receipt within `patience`.
pub(crate) async fn open(
    target: &Target,
    source: IpAddr,
    plan: &ConnPlan,
    patience: Duration,
) -> anyhow::Result<Ws> {
    tokio::time::timeout(patience, open_inner(target, source, plan))
        .await
        .map_err(|_| anyhow!("no CONNECTED and subscription receipt within {patience:?}"))?
}

async fn open_inner(target: &Target, source: IpAddr, plan: &ConnPlan) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    if target.addr.ip().is_loopback() {
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding {source}"))?;
    }
    let stream = socket
        .connect(target.addr)
        .await
        .with_context(|| format!("connecting to {} from {source}", target.addr))?;
    stream.set_nodelay(true)?;
    let mut request = target.url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v12.stomp"),
    );
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
            .await
            .context("WebSocket upgrade")?;
    let mut decoder = Decoder::new(sotong_stomp::Limits {
        max_frame_bytes: 1 << 20,
        max_body_bytes: 1 << 20,
        ..sotong_stomp::Limits::default()
    });
    let mut inbox = BytesMut::new();
    ws.send(text(&plan.connect)).await?;
    let connected = next_frame(&mut ws, &mut decoder, &mut inbox).await?;
    if connected.command != Command::Connected {
        bail!("CONNECT refused: {}", describe(&connected));
    }
    ws.send(text(&plan.subscribe)).await?;
    loop {
        let frame = next_frame(&mut ws, &mut decoder, &mut inbox).await?;
        match frame.command {
            Command::Receipt if frame.header("receipt-id") == Some(SUBSCRIBED) => return Ok(ws),
            Command::Error => bail!("SUBSCRIBE refused: {}", describe(&frame)),
            Command::Message
                if frame.header("destination") == Some("/user/queue/errors")
                    || frame.header("receipt-id") == Some(SUBSCRIBED) =>
            {
                bail!("SUBSCRIBE refused: {}", describe(&frame))
            }
            _ => {}
        }
    }
}

fn text(bytes: &[u8]) -> Message {
    match std::str::from_utf8(bytes) {
        Ok(s) => Message::Text(s.into()),
        Err(_) => Message::Binary(bytes.to_vec().into()),
    }
}

fn describe(frame: &Frame) -> String {
    format!(
        "{} {} {}",
        frame.command.as_str(),
        frame.header("message").unwrap_or(""),
        String::from_utf8_lossy(&frame.body)
    )
}

async fn next_frame(
    ws: &mut Ws,
    decoder: &mut Decoder,
    inbox: &mut BytesMut,
) -> anyhow::Result<Frame> {
    loop {
        if let Some(frame) = decoder.decode(inbox).context("decoding a frame")? {
            return Ok(frame);
        }
        match ws.next().await {
            Some(Ok(Message::Text(t))) => inbox.extend_from_slice(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => inbox.extend_from_slice(&b),
            Some(Ok(Message::Close(close))) => bail!("the server closed the socket: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err).context("reading the socket"),
            None => bail!("the server closed the socket"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Frame> {
        let mut decoder = Decoder::new(sotong_stomp::Limits::default());
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(f) = decoder.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        frames
    }

    #[test]
    fn templates_are_filled_in() {
        assert_eq!(
            expand("/exchange/amq.topic/room.{room}", "7", "b-1", 3),
            "/exchange/amq.topic/room.7"
        );
        assert_eq!(
            expand("/queue/{user}.{conn}", "7", "b-1", 3),
            "/queue/b-1.3"
        );
    }

    #[test]
    fn publishers_stay_home_and_the_others_take_turns_on_the_receivers() {
        let publishing: std::collections::HashSet<usize> = [0, 5].into_iter().collect();
        assert_eq!(connection_homes(4, &publishing, 0), vec![0; 4]);
        assert_eq!(
            connection_homes(10, &publishing, 1),
            vec![0, 1, 1, 1, 1, 0, 1, 1, 1, 1]
        );
        assert_eq!(
            connection_homes(10, &publishing, 2),
            vec![0, 1, 2, 1, 2, 0, 1, 2, 1, 2]
        );
    }

    #[test]
    fn source_addresses_are_loopback() {
        let addrs = source_addresses(3);
        assert_eq!(addrs.len(), 3);
        assert!(addrs.iter().all(IpAddr::is_loopback));
        assert_eq!(addrs[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(source_addresses(0).len(), 1);
    }

    #[test]
    fn prefixes_follow_the_username_rule() {
        assert!(check_prefix("bench", 19_000).is_ok());
        assert!(check_prefix("Bench", 10).is_err());
        assert!(check_prefix("b", 1).is_ok());
        assert!(check_prefix("", 1).is_err());
        assert!(check_prefix(&"x".repeat(30), 100).is_err());
    }

    #[test]
    fn stomp_plans_put_consecutive_connections_in_a_room() {
        let profile = StompProfile {
            login: "guest".into(),
            passcode: "guest".into(),
            vhost: "/".into(),
            room_destination: "/exchange/amq.topic/room.{room}".into(),
            publish_destination: "/exchange/amq.topic/room.{room}".into(),
            notify_destination: "/exchange/amq.direct/{user}".into(),
        };
        let layout = Layout {
            connections: 6,
            room_size: 3,
            prefix: "bench".into(),
        };
        let plans = plan_stomp(&profile, &layout);
        assert_eq!(plans[4].room, 1);
        assert_eq!(plans[4].publish_to, "/exchange/amq.topic/room.1");
        let connect = decode_all(&plans[4].connect);
        assert_eq!(connect[0].command, Command::Connect);
        assert_eq!(connect[0].header("login"), Some("guest"));
        assert_eq!(connect[0].header("heart-beat"), Some("0,0"));
        let subs = decode_all(&plans[4].subscribe);
        assert_eq!(subs.len(), 2);
        assert_eq!(
            subs[0].header("destination"),
            Some("/exchange/amq.topic/room.1")
        );
        assert_eq!(subs[0].header("receipt"), None);
        assert_eq!(
            subs[1].header("destination"),
            Some("/exchange/amq.direct/bench-4")
        );
        assert_eq!(subs[1].header("receipt"), Some(SUBSCRIBED));
    }

    #[test]
    fn jwts_carry_the_username() {
        let token = jwt("bench-1", "0123456789abcdef0123", Duration::from_secs(60)).unwrap();
        let mut validation = jsonwebtoken::Validation::default();
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"0123456789abcdef0123"),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "bench-1");
    }

    #[tokio::test]
    async fn only_loopback_targets_unless_allowed() {
        let t = Target::resolve("ws://127.0.0.1:15674/ws", false)
            .await
            .unwrap();
        assert_eq!(t.http_base, "http://127.0.0.1:15674");
        assert!(Target::resolve("ws://192.0.2.1:80/ws", false)
            .await
            .is_err());
        assert!(Target::resolve("wss://127.0.0.1/ws", false).await.is_err());
    }
}
