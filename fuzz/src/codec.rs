//! The `codec` fuzz harness: arbitrary bytes into [`sotong_stomp::Decoder`].
//!
//! This file is shared, unchanged, by the `codec` fuzz target and by the
//! protocol crate's `tests/fuzz_regressions.rs` (through `#[path]`), so a saved
//! input replays through exactly the code the fuzzer ran. It may only use
//! `sotong_stomp`, `bytes` and `std`.
//!
//! Input layout: the first octet picks the set-up, the rest is the stream.
//!
//! * bits 0–1: the escaping version (1.0, 1.1, 1.2, 1.2);
//! * bits 2–3: one of four small [`Limits`];
//! * bit 4: start with 1.2 and switch to the chosen version after the first
//!   frame, as the server does after `CONNECT`;
//! * bit 5: feed the stream one octet at a time instead of in chunks.
//!
//! The stream is cut into chunks at `0xFF` octets; `0xFF 0xFF` stands for one
//! literal `0xFF` (see [`split`]).
//!
//! Checks, besides "never panics":
//! 1. chunking does not matter: the chunked stream and the same bytes in one
//!    chunk give the same frames, are rejected alike, and leave the same bytes;
//! 2. every decoded frame survives `encode` and a fresh decode in the version
//!    it was decoded with, equal but for the `content-length` `encode` adds.

use bytes::BytesMut;
use sotong_stomp::{encode, Decoder, Frame, Limits, ParseError, Version};

/// Cuts `data` at `0xFF` octets; `0xFF 0xFF` is one literal `0xFF` (a trailing
/// lone `0xFF` just ends the last piece). Always returns at least one piece.
pub fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut pieces = vec![Vec::new()];
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        if b == 0xFF {
            if data.get(i + 1) == Some(&0xFF) {
                push_last(&mut pieces, 0xFF);
                i += 2;
                continue;
            }
            pieces.push(Vec::new());
        } else {
            push_last(&mut pieces, b);
        }
        i += 1;
    }
    pieces
}

fn push_last(pieces: &mut [Vec<u8>], b: u8) {
    if let Some(last) = pieces.last_mut() {
        last.push(b);
    }
}

/// The small limits the input chooses from: tight enough that every limit is
/// reached by inputs of a few hundred octets, and mutually inconsistent on
/// purpose (a body limit above the frame limit, one header allowed, ...).
const LIMITS: [Limits; 4] = [
    Limits {
        max_frame_bytes: 64,
        max_headers: 4,
        max_header_bytes: 16,
        max_body_bytes: 32,
    },
    Limits {
        max_frame_bytes: 256,
        max_headers: 8,
        max_header_bytes: 64,
        max_body_bytes: 128,
    },
    Limits {
        max_frame_bytes: 1024,
        max_headers: 16,
        max_header_bytes: 256,
        max_body_bytes: 512,
    },
    Limits {
        max_frame_bytes: 100,
        max_headers: 1,
        max_header_bytes: 200,
        max_body_bytes: 1000,
    },
];

/// No limit a re-encoded frame could reach (the original frame is at most a
/// few kB; `encode` may add a header, which must not trip a limit).
const ROOMY: Limits = Limits {
    max_frame_bytes: 1 << 24,
    max_headers: 1 << 16,
    max_header_bytes: 1 << 24,
    max_body_bytes: 1 << 24,
};

/// What one pass of the decoder over the stream produced.
#[derive(Debug)]
struct Outcome {
    /// Each frame with the escaping version in force when it was decoded.
    frames: Vec<(Frame, Version)>,
    error: Option<ParseError>,
    rest: BytesMut,
}

fn decode_stream(
    limits: Limits,
    version: Version,
    switch_after_first: bool,
    chunks: &[&[u8]],
) -> Outcome {
    let mut decoder = Decoder::new(limits);
    if !switch_after_first {
        decoder.set_version(version);
    }
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let in_force = decoder.version();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    frames.push((frame, in_force));
                    decoder.set_version(version);
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                        rest: buf,
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        rest: buf,
    }
}

/// `frame` as it should come back from `encode` + decode: with the
/// `content-length` header `encode` appends for a non-empty body.
fn expected_after_encode(frame: &Frame) -> Frame {
    let mut expected = frame.clone();
    if !expected.body.is_empty() && expected.header("content-length").is_none() {
        let length = expected.body.len().to_string();
        expected.headers.push("content-length", length);
    }
    expected
}

fn check_round_trip(frame: &Frame, version: Version) {
    let mut wire = BytesMut::new();
    encode(frame, version, &mut wire);
    let encoded = wire.clone();
    let mut decoder = Decoder::new(ROOMY);
    decoder.set_version(version);
    let again = match decoder.decode(&mut wire) {
        Ok(Some(again)) => again,
        other => panic!(
            "re-encoded frame did not decode: {other:?}\nframe: {frame:?}\nversion: {version:?}\nwire: {encoded:?}"
        ),
    };
    assert!(
        wire.is_empty(),
        "re-encoded frame left {wire:?} behind\nframe: {frame:?}\nwire: {encoded:?}"
    );
    assert_eq!(
        again,
        expected_after_encode(frame),
        "round trip changed the frame ({version:?})\nwire: {encoded:?}"
    );
}

/// Runs one fuzz input through the decoder and checks the invariants above;
/// panics on a violation.
pub fn check(data: &[u8]) {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let version = match flags & 3 {
        0 => Version::V1_0,
        1 => Version::V1_1,
        _ => Version::V1_2,
    };
    let limits = LIMITS
        .get(usize::from((flags >> 2) & 3))
        .copied()
        .unwrap_or_default();
    let switch_after_first = flags & 0x10 != 0;
    let pieces = if flags & 0x20 != 0 {
        stream.iter().map(|&b| vec![b]).collect()
    } else {
        split(stream)
    };
    let chunks: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let whole = pieces.concat();

    let chunked = decode_stream(limits, version, switch_after_first, &chunks);
    let at_once = decode_stream(limits, version, switch_after_first, &[&whole]);

    assert_eq!(
        chunked.frames, at_once.frames,
        "chunking changed the frames decoded"
    );
    assert_eq!(
        chunked.error.is_some(),
        at_once.error.is_some(),
        "chunking changed whether the stream is rejected: chunked {:?}, at once {:?}",
        chunked.error,
        at_once.error
    );
    if chunked.error.is_none() {
        assert_eq!(
            chunked.rest, at_once.rest,
            "chunking changed the bytes left over"
        );
    }
    for (frame, in_force) in &chunked.frames {
        check_round_trip(frame, *in_force);
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_cuts_at_ff_and_unescapes_ff_ff() {
        assert_eq!(split(b""), vec![Vec::<u8>::new()]);
        assert_eq!(split(b"ab"), vec![b"ab".to_vec()]);
        assert_eq!(split(b"a\xffb"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(split(b"a\xff\xffb"), vec![b"a\xffb".to_vec()]);
        assert_eq!(split(b"a\xff"), vec![b"a".to_vec(), Vec::new()]);
    }
}
