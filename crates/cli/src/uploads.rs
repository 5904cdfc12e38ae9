//! `sotong bench-uploads`: attachment uploads against a running sotong server.
//!
//! N clients (default 20), members of one group, each upload a file of S MiB (default 25) at
//! the same time, streamed from a generator (the bench holds no file in memory either). It
//! reports the MB/s of the whole and, given the server's pid, the server's peak resident
//! memory during the run (`VmHWM` in `/proc/PID/status`, reset first through
//! `/proc/PID/clear_refs` when allowed): the figure that must not grow with the file size,
//! since uploads are streamed to storage and never held whole.
//!
//! With `--images K` it then uploads a 12-megapixel JPEG and a 2-megapixel PNG K times each,
//! one at a time, and reports the time per image: the server decodes, turns, re-encodes and
//! thumbnails each before it answers, so that is the processing time plus a loopback transfer.
//!
//! One JSON line on stdout.

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use serde_json::{json, Value};
use std::io::{Cursor, Write as _};
use std::time::{Duration, Instant};

/// The knobs of `sotong bench-uploads`.
#[derive(Debug, Args)]
pub struct UploadBenchArgs {
    /// The server's HTTP base.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's --jwt-secret (users are created on first use of their JWT).
    #[arg(long, env = "SOTONG_JWT_SECRET")]
    pub jwt_secret: String,
    /// Clients uploading at once.
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Size of each client's file, in MiB.
    #[arg(long, default_value_t = 25)]
    pub size_mb: u64,
    /// The server's pid, for its peak memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Uploads of each test image (12 MP JPEG, 2 MP PNG) after the concurrent run; 0: none.
    #[arg(long, default_value_t = 0)]
    pub images: u32,
    /// Start of the bench users' names.
    #[arg(long, default_value = "upload-bench")]
    pub user_prefix: String,
}

/// Size of the chunks the generator hands to the HTTP client.
const CHUNK: usize = 256 * 1024;

/// Runs the bench and prints its JSON report.
///
/// # Errors
/// A server that cannot be reached or refuses the setup.
pub async fn run(args: UploadBenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.size_mb == 0 {
        bail!("--clients and --size-mb must be positive");
    }
    let http = reqwest::Client::new();
    let base = args.url.trim_end_matches('/').to_string();
    let users: Vec<String> = (0..args.clients)
        .map(|i| format!("{}-{i}", args.user_prefix))
        .collect();
    let mut tokens = Vec::with_capacity(users.len());
    for user in &users {
        let token = crate::bench::jwt(user, &args.jwt_secret, Duration::from_secs(3600))?;
        call(
            &http,
            reqwest::Method::GET,
            &format!("{base}/api/me"),
            &token,
            None,
        )
        .await?;
        tokens.push(token);
    }
    let room = call(
        &http,
        reqwest::Method::POST,
        &format!("{base}/api/rooms"),
        &tokens[0],
        Some(json!({"name": "upload bench", "members": users[1..]})),
    )
    .await?["id"]
        .as_i64()
        .context("the group's id")?;

    let before_kb = args.server_pid.and_then(reset_peak);
    let bytes_each = args.size_mb * 1024 * 1024;
    let started = Instant::now();
    let uploads = tokens.iter().enumerate().map(|(i, token)| {
        let http = http.clone();
        let url = format!("{base}/api/rooms/{room}/attachments?name=bench-{i}.bin");
        let token = token.clone();
        tokio::spawn(async move {
            let body = reqwest::Body::wrap_stream(generated(bytes_each, i as u64));
            let response = http
                .post(url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_LENGTH, bytes_each)
                .body(body)
                .send()
                .await?;
            Ok::<_, reqwest::Error>(response.status().as_u16())
        })
    });
    let mut ok = 0;
    let mut failed = Vec::new();
    for upload in futures_util::future::join_all(uploads).await {
        match upload {
            Ok(Ok(201)) => ok += 1,
            Ok(Ok(status)) => failed.push(format!("HTTP {status}")),
            Ok(Err(err)) => failed.push(err.to_string()),
            Err(err) => failed.push(err.to_string()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let peak_kb = args.server_pid.and_then(|pid| status_kb(pid, "VmHWM:"));
    let total_mb = (ok as f64) * (args.size_mb as f64);
    let mut report = json!({
        "clients": args.clients,
        "size_mb": args.size_mb,
        "uploaded": ok,
        "failed": failed,
        "seconds": round(secs),
        "mb_per_sec": round(total_mb / secs),
        "server_rss_before_kb": before_kb,
        "server_peak_rss_kb": peak_kb,
    });
    if args.images > 0 {
        report["images"] = image_times(&http, &base, room, &tokens[0], args.images).await?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}").context("writing the report")?;
    stdout.flush()?;
    Ok(())
}

/// One JSON call; its answer, or an error with the server's.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| url.to_string())?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: HTTP {status}: {answer}");
    }
    Ok(answer)
}

/// `bytes` of pseudo-random data (xorshift, seeded per client), in [`CHUNK`]s.
fn generated(
    bytes: u64,
    seed: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chunk = vec![0u8; CHUNK];
    for word in chunk.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
    }
    let chunk = Bytes::from(chunk);
    let count = bytes.div_ceil(CHUNK as u64);
    futures_util::stream::iter((0..count).map(move |i| {
        let left = bytes - i * CHUNK as u64;
        let len = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        Ok(chunk.slice(..len))
    }))
}

/// Resets the process's peak RSS (`clear_refs` 5) and returns its RSS now, in KiB.
pub(crate) fn reset_peak(pid: u32) -> Option<u64> {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    status_kb(pid, "VmRSS:")
}

/// A `kB` line of `/proc/PID/status`.
pub(crate) fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A photo-like test image: smooth gradients with some texture (a JPEG of it is a few MB).
fn test_image(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let texture = ((x * 31) ^ (y * 17)) % 23;
        image::Rgb([
            ((x * 255) / width) as u8 ^ texture as u8,
            ((y * 255) / height) as u8,
            (((x + y) * 127) / (width + height)) as u8 + texture as u8,
        ])
    })
}

fn encoded(image: &image::RgbImage, format: image::ImageFormat) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

/// Uploads a 12 MP JPEG and a 2 MP PNG `times` times each; the median time per image.
async fn image_times(
    http: &reqwest::Client,
    base: &str,
    room: i64,
    token: &str,
    times: u32,
) -> anyhow::Result<Value> {
    let jpeg = encoded(&test_image(4000, 3000), image::ImageFormat::Jpeg)?;
    let png = encoded(&test_image(1600, 1200), image::ImageFormat::Png)?;
    let mut report = serde_json::Map::new();
    for (label, name, bytes) in [
        ("jpeg_12mp", "photo.jpg", jpeg),
        ("png_2mp", "shot.png", png),
    ] {
        let mut millis = Vec::new();
        for _ in 0..times {
            let started = Instant::now();
            let response = http
                .post(format!("{base}/api/rooms/{room}/attachments?name={name}"))
                .bearer_auth(token)
                .body(bytes.clone())
                .send()
                .await?;
            if response.status().as_u16() != 201 {
                bail!("{name}: HTTP {}", response.status());
            }
            millis.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        millis.sort_by(f64::total_cmp);
        report.insert(
            label.into(),
            json!({
                "bytes": bytes.len(),
                "uploads": times,
                "median_ms": round(millis[millis.len() / 2]),
                "max_ms": round(millis[millis.len() - 1]),
            }),
        );
    }
    Ok(Value::Object(report))
}
