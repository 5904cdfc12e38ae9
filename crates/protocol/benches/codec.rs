//! Criterion benchmarks for the STOMP codec on chat-shaped traffic.
//!
//! Two frame shapes dominate the server's work: the client's `SEND` of a chat
//! message and the broker's `MESSAGE` fan-out. Each is decoded and encoded on
//! its own, and a buffer of 1,000 packed frames is decoded in one go, which
//! is what a busy connection's receive buffer looks like. Single frames and
//! the packed buffers report bytes/s; the `*_frames` groups repeat the
//! packed runs reporting frames/s (criterion's `elem/s`).
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use sotong_stomp::{encode, Command, Decoder, Frame, Limits, Version};

/// A ~100-byte JSON chat message as a browser would send it.
fn send_frame() -> Frame {
    let body = r#"{"text":"hey everyone, the deploy is done and the new build looks good to me","reply_to":null}"#;
    Frame::new(Command::Send)
        .with_header("destination", "/app/rooms/42")
        .with_header("content-type", "application/json")
        .with_header("receipt", "r-1842")
        .with_header("client-msg-id", "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e7b6a41")
        .with_body(body)
}

/// A ~250-byte JSON message as the broker fans it out to subscribers.
fn message_frame() -> Frame {
    let body = r#"{"id":"01HZX3K9Q7V4TQ2M8N5R6S7T8U","room":42,"seq":918273,"author":{"id":17,"name":"marina"},"text":"hey everyone, the deploy is done and the new build looks good to me","reply_to":null,"sent_at":"2024-05-01T12:34:56.789Z","edited":false}"#;
    Frame::new(Command::Message)
        .with_header("subscription", "sub-0")
        .with_header("message-id", "01HZX3K9Q7V4TQ2M8N5R6S7T8U")
        .with_header("destination", "/topic/rooms/42")
        .with_header("seq", "918273")
        .with_header("content-type", "application/json")
        .with_header("content-length", body.len().to_string())
        .with_body(body)
}

/// Frames per packed buffer.
const N: usize = 1_000;

fn bytes_of(frames: &[Frame]) -> BytesMut {
    let mut out = BytesMut::new();
    for f in frames {
        encode(f, Version::V1_2, &mut out);
    }
    out
}

fn bench_frame(c: &mut Criterion, name: &str, frame: &Frame) {
    let wire = bytes_of(std::slice::from_ref(frame));
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode", |b| {
        let mut decoder = Decoder::new(Limits::default());
        b.iter_batched_ref(
            || wire.clone(),
            |buf| black_box(decoder.decode(buf).expect("valid").expect("complete")),
            BatchSize::SmallInput,
        )
    });
    // Baseline: just copying the decoded headers (`Headers::clone`: one
    // reference-count bump for the header text shared with the receive
    // buffer, plus the inline name/value offsets), i.e. what it costs to hand
    // out an owned header list, without any parsing.
    let decoded = Decoder::new(Limits::default())
        .decode(&mut wire.clone())
        .expect("valid")
        .expect("complete");
    group.bench_function("alloc_headers_baseline", |b| {
        b.iter_with_large_drop(|| black_box(&decoded.headers).clone())
    });
    group.bench_function("encode", |b| {
        let mut out = BytesMut::with_capacity(1024);
        b.iter(|| {
            out.clear();
            encode(black_box(frame), Version::V1_2, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

/// 1,000 frames packed in one buffer, reported once in bytes/s (`name`) and
/// once in frames/s (`name_frames`).
fn bench_packed(c: &mut Criterion, name: &str, frame: &Frame) {
    let wire = bytes_of(&vec![frame.clone(); N]).freeze();
    for (group_name, throughput) in [
        (name.to_owned(), Throughput::Bytes(wire.len() as u64)),
        (format!("{name}_frames"), Throughput::Elements(N as u64)),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(throughput);
        bench_packed_group(&mut group, &wire, frame);
        group.finish();
    }
}

/// Decoding drops each frame inside the timed loop, as the server would.
fn bench_packed_group(group: &mut BenchmarkGroup<'_, WallTime>, wire: &Bytes, frame: &Frame) {
    group.bench_function("decode_1000", |b| {
        let mut decoder = Decoder::new(Limits::default());
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut n = 0;
                while let Some(f) = decoder.decode(&mut buf).expect("valid") {
                    black_box(&f);
                    n += 1;
                }
                assert_eq!(n, N);
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("encode_1000", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            for _ in 0..N {
                encode(black_box(frame), Version::V1_2, &mut out);
            }
            black_box(out.len())
        })
    });
}

fn benches(c: &mut Criterion) {
    let send = send_frame();
    let message = message_frame();
    bench_frame(c, "send", &send);
    bench_frame(c, "message", &message);
    bench_packed(c, "packed_send", &send);
    bench_packed(c, "packed_message", &message);
}

criterion_group!(codec, benches);
criterion_main!(codec);
