//! Byte-literal tests for the decoder and encoder, in the style of the
//! stompjs parser specs, plus property tests for round-trips, chunking and
//! robustness against arbitrary input.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// Decodes every complete frame in `input` fed as one chunk.
fn decode_all(input: &[u8]) -> Result<Vec<Frame>, ParseError> {
    decode_all_with(Decoder::default(), input)
}

fn decode_all_with(mut d: Decoder, input: &[u8]) -> Result<Vec<Frame>, ParseError> {
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    while let Some(f) = d.decode(&mut buf)? {
        frames.push(f);
    }
    Ok(frames)
}

/// Decodes exactly one frame from a single chunk and checks nothing is left.
fn decode_one(input: &[u8]) -> Result<Frame, ParseError> {
    let mut buf = BytesMut::from(input);
    let f = Decoder::default()
        .decode(&mut buf)?
        .expect("expected a complete frame");
    assert!(buf.is_empty(), "leftover bytes: {buf:?}");
    Ok(f)
}

fn decode_err(input: &[u8]) -> ParseError {
    decode_err_with(Decoder::default(), input)
}

fn decode_err_with(d: Decoder, input: &[u8]) -> ParseError {
    decode_all_with(d, input).expect_err("expected an error")
}

/// Feeds `input` in the given chunk sizes (cycled), collecting frames until
/// an error. Returns the frames, the error if any, and the leftover bytes.
fn decode_chunked(
    mut d: Decoder,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<Frame>, Option<ParseError>, BytesMut) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match d.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e), buf),
            }
        }
    }
    (frames, None, buf)
}

fn encoded(frame: &Frame, version: Version) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(frame, version, &mut out);
    out.to_vec()
}

fn hdrs(f: &Frame) -> Vec<(&str, &str)> {
    f.headers.iter().collect()
}

fn small_limits() -> Limits {
    Limits {
        max_frame_bytes: 64,
        max_headers: 2,
        max_header_bytes: 16,
        max_body_bytes: 8,
    }
}

// ----- the spec's own examples -----

#[test]
fn spec_connect() {
    let f = decode_one(b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0").unwrap();
    assert_eq!(f.command, Command::Connect);
    assert_eq!(
        hdrs(&f),
        [("accept-version", "1.2"), ("host", "stomp.github.org")]
    );
    assert!(f.body.is_empty());
}

#[test]
fn spec_stomp_and_connected() {
    let f = decode_one(b"STOMP\naccept-version:1.2\nhost:stomp.github.org\n\n\0").unwrap();
    assert_eq!(f.command, Command::Stomp);
    let f = decode_one(b"CONNECTED\nversion:1.2\n\n\0").unwrap();
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.header("version"), Some("1.2"));
}

#[test]
fn spec_send_with_body() {
    let f = decode_one(b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0")
        .unwrap();
    assert_eq!(f.command, Command::Send);
    assert_eq!(
        hdrs(&f),
        [("destination", "/queue/a"), ("content-type", "text/plain")]
    );
    assert_eq!(f.body, Bytes::from_static(b"hello queue a"));
}

#[test]
fn spec_subscribe() {
    let f = decode_one(b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0").unwrap();
    assert_eq!(f.command, Command::Subscribe);
    assert_eq!(
        hdrs(&f),
        [
            ("id", "0"),
            ("destination", "/queue/foo"),
            ("ack", "client")
        ]
    );
}

#[test]
fn spec_message() {
    let f = decode_one(
        b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n\
          content-type:text/plain\n\nhello queue a\0",
    )
    .unwrap();
    assert_eq!(f.command, Command::Message);
    assert_eq!(f.header("message-id"), Some("007"));
    assert_eq!(f.header("subscription"), Some("0"));
    assert_eq!(&f.body[..], b"hello queue a");
}

#[test]
fn spec_receipt() {
    let f = decode_one(b"RECEIPT\nreceipt-id:message-12345\n\n\0").unwrap();
    assert_eq!(f.command, Command::Receipt);
    assert_eq!(f.header("receipt-id"), Some("message-12345"));
}

#[test]
fn spec_error_with_content_length() {
    let body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\n\
                Hello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\n\
                for message propagation.\n";
    let input = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:{}\n\
         message:malformed frame received\n\n{body}\0",
        body.len()
    );
    let f = decode_one(input.as_bytes()).unwrap();
    assert_eq!(f.command, Command::Error);
    assert_eq!(f.header("message"), Some("malformed frame received"));
    assert_eq!(&f.body[..], body.as_bytes());
}

#[test]
fn every_command_parses() {
    for c in [
        "CONNECT",
        "STOMP",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "ACK",
        "NACK",
        "DISCONNECT",
        "CONNECTED",
        "MESSAGE",
        "RECEIPT",
        "ERROR",
    ] {
        let f = decode_one(format!("{c}\n\n\0").as_bytes()).unwrap();
        assert_eq!(f.command.as_str(), c);
        assert!(f.headers.is_empty());
    }
}

// ----- incremental parsing -----

#[test]
fn split_frame_fed_byte_by_byte() {
    let input = b"SEND\ndestination:/queue/a\ncontent-length:5\n\nhel\0o\0\n";
    let mut d = Decoder::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for (i, &b) in input.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        match d.decode(&mut buf).unwrap() {
            Some(f) => frames.push(f),
            // The partial frame stays in the buffer.
            None if i < input.len() - 2 => assert_eq!(buf.len(), i + 1),
            None => {}
        }
    }
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0].body[..], b"hel\0o");
    // The trailing EOL after the NUL was consumed as a heart-beat.
    assert!(buf.is_empty());
}

#[test]
fn partial_frame_is_kept_until_complete() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&b"SEND\ndestina"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], b"SEND\ndestina");
    buf.extend_from_slice(b"tion:/a\n\nbo");
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 23);
    buf.extend_from_slice(b"dy\0SEND\n");
    let f = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.header("destination"), Some("/a"));
    assert_eq!(&f.body[..], b"body");
    assert_eq!(&buf[..], b"SEND\n");
    assert_eq!(d.decode(&mut buf), Ok(None));
}

#[test]
fn two_frames_in_one_chunk() {
    let frames = decode_all(b"SEND\ndestination:/a\n\none\0SEND\ndestination:/b\n\ntwo\0").unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].header("destination"), Some("/a"));
    assert_eq!(&frames[0].body[..], b"one");
    assert_eq!(frames[1].header("destination"), Some("/b"));
    assert_eq!(&frames[1].body[..], b"two");
}

#[test]
fn heart_beat_eols_are_skipped() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&b"\n\r\n\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(buf.is_empty(), "heart-beats are consumed");
    // A lone CR may be the first half of a CRLF heart-beat.
    buf.extend_from_slice(b"\r");
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"\n\nDISCONNECT\nreceipt:77\n\n\0\n\r\n\nACK\nid:1\n\n\0\r\n");
    let f = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.command, Command::Disconnect);
    let f = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.command, Command::Ack);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(buf.is_empty());
}

#[test]
fn nul_inside_body_with_content_length() {
    let f = decode_one(b"SEND\ndestination:/a\ncontent-length:7\n\n\0a\0b\0c\0\0").unwrap();
    assert_eq!(&f.body[..], b"\0a\0b\0c\0");
}

#[test]
fn content_length_zero_and_first_occurrence_wins() {
    let f = decode_one(b"SEND\ncontent-length:0\n\n\0").unwrap();
    assert!(f.body.is_empty());
    let f = decode_one(b"SEND\ncontent-length:2\ncontent-length:5\n\nab\0").unwrap();
    assert_eq!(&f.body[..], b"ab");
}

#[test]
fn crlf_lines() {
    let f = decode_one(b"SEND\r\ndestination:/queue/a\r\nreceipt:1\r\n\r\nhi\0").unwrap();
    assert_eq!(f.command, Command::Send);
    assert_eq!(hdrs(&f), [("destination", "/queue/a"), ("receipt", "1")]);
    assert_eq!(&f.body[..], b"hi");
    // Mixed EOLs are fine too.
    let f = decode_one(b"SEND\r\na:1\nb:2\r\n\n\0").unwrap();
    assert_eq!(hdrs(&f), [("a", "1"), ("b", "2")]);
}

#[test]
fn body_is_zero_copy_slice_of_input() {
    let mut buf = BytesMut::from(&b"SEND\n\n0123456789\0"[..]);
    let start = buf.as_ptr() as usize;
    let f = Decoder::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.body.as_ptr() as usize, start + 6);
}

// ----- zero-copy headers -----

/// Whether `s` lies inside the `len` octets at `start`.
fn points_into(s: &str, start: usize, len: usize) -> bool {
    let at = s.as_ptr() as usize;
    at >= start && at + s.len() <= start + len
}

#[test]
fn plain_headers_are_slices_of_the_input_and_escaped_ones_copies() {
    let input = b"MESSAGE\nplain:value\nesc\\caped:a\\nb\nlast:x:y\n\nbody\0";
    let mut buf = BytesMut::from(&input[..]);
    let (start, len) = (buf.as_ptr() as usize, buf.len());
    let f = Decoder::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        hdrs(&f),
        [("plain", "value"), ("esc:aped", "a\nb"), ("last", "x:y")]
    );
    let pairs = hdrs(&f);
    for (name, value) in [pairs[0], pairs[2]] {
        assert!(points_into(name, start, len), "{name} was copied");
        assert!(points_into(value, start, len), "{value} was copied");
    }
    let (name, value) = pairs[1];
    assert!(!points_into(name, start, len) && !points_into(value, start, len));
    // Each value ends where its line does, EOL excluded.
    assert_eq!(f.header("last"), Some("x:y"));
    assert_eq!(&f.body[..], b"body");
}

#[test]
fn header_text_is_exactly_its_part_of_the_line() {
    // CRLF, empty values, multi-byte UTF-8 around the colon, a value holding
    // colons, and a last header right before the blank line.
    let input = "SEND\r\nfirst:1\r\nempty:\r\nnom:caf\u{e9}:\u{1f991}\r\n\u{e9}t\u{e9}:\u{e9}\r\nz:end\r\n\r\n\0";
    let f = decode_one(input.as_bytes()).unwrap();
    assert_eq!(
        hdrs(&f),
        [
            ("first", "1"),
            ("empty", ""),
            ("nom", "caf\u{e9}:\u{1f991}"),
            ("\u{e9}t\u{e9}", "\u{e9}"),
            ("z", "end"),
        ]
    );
    // The header block ends at the blank line: the body starts right after.
    let f = decode_one(b"SEND\na:b\n\nc:d\0").unwrap();
    assert_eq!(hdrs(&f), [("a", "b")]);
    assert_eq!(&f.body[..], b"c:d");
}

#[test]
fn decoded_duplicates_keep_order_and_the_first_wins() {
    let f = decode_one(b"SEND\nk:1\nother:x\nk:2\nk\\c:3\nk:4\n\n\0").unwrap();
    assert_eq!(f.header("k"), Some("1"));
    assert_eq!(f.header("k:"), Some("3"));
    assert_eq!(
        f.headers
            .iter()
            .filter(|(n, _)| *n == "k")
            .collect::<Vec<_>>(),
        [("k", "1"), ("k", "2"), ("k", "4")]
    );
    // An escaped duplicate before a plain one still wins.
    let f = decode_one(b"SEND\nk:a\\\\b\nk:plain\n\n\0").unwrap();
    assert_eq!(f.header("k"), Some("a\\b"));
}

#[test]
fn headers_outlive_reuse_of_the_receive_buffer() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(b"SEND\ndestination:/a\nesc:x\\cy\n\nbody-1\0MESS");
    let first = d.decode(&mut buf).unwrap().unwrap();
    // The rest of the buffer is appended to, consumed, cleared and refilled.
    buf.extend_from_slice(b"AGE\ndestination:/b\n\n");
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"body-2\0");
    let second = d.decode(&mut buf).unwrap().unwrap();
    buf.clear();
    buf.reserve(4096);
    buf.extend_from_slice(&[b'#'; 4096]);
    buf.clear();
    buf.extend_from_slice(b"SEND\ndestination:/c\n\n\0");
    let third = d.decode(&mut buf).unwrap().unwrap();
    drop(buf);
    assert_eq!(hdrs(&first), [("destination", "/a"), ("esc", "x:y")]);
    assert_eq!(&first.body[..], b"body-1");
    assert_eq!(hdrs(&second), [("destination", "/b")]);
    assert_eq!(&second.body[..], b"body-2");
    assert_eq!(hdrs(&third), [("destination", "/c")]);
    // Clones share the text and stay equal once the original is gone.
    let copy = first.clone();
    drop(first);
    assert_eq!(copy.header("esc"), Some("x:y"));
    assert_eq!(copy.header("destination"), Some("/a"));
}

#[test]
fn decoded_and_built_frames_compare_by_content() {
    let decoded = decode_one(b"SEND\na:1\nb:x\\cy\n\nhi\0").unwrap();
    let built = Frame::new(Command::Send)
        .with_header("a", "1")
        .with_header("b", "x:y")
        .with_body("hi");
    assert_eq!(decoded, built);
    assert_eq!(
        format!("{:?}", decoded.headers),
        r#"[("a", "1"), ("b", "x:y")]"#
    );
    let other = Frame::new(Command::Send)
        .with_header("b", "x:y")
        .with_header("a", "1")
        .with_body("hi");
    assert_ne!(decoded, other);
}

#[test]
fn many_headers_and_long_lines_decode_alike() {
    // More headers than are stored inline, and lines too long for the
    // one-pass scan, take the other paths through the decoder.
    let long = "v".repeat(300);
    let mut input = String::from("SEND\n");
    for i in 0..20 {
        input.push_str(&format!("h{i}:{i}\n"));
    }
    input.push_str(&format!("long:{long}\ntab:a\tb\n\n\0"));
    let f = decode_one(input.as_bytes()).unwrap();
    assert_eq!(f.headers.len(), 22);
    assert_eq!(f.header("h19"), Some("19"));
    assert_eq!(f.header("long"), Some(long.as_str()));
    assert_eq!(f.header("tab"), Some("a\tb"));
}

// ----- headers -----

#[test]
fn header_split_at_first_colon_and_empty_value() {
    let f = decode_one(b"SEND\nurl:http://x:80/\nempty:\n\n\0").unwrap();
    assert_eq!(hdrs(&f), [("url", "http://x:80/"), ("empty", "")]);
}

#[test]
fn repeated_header_first_wins() {
    let f = decode_one(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0").unwrap();
    assert_eq!(f.header("foo"), Some("World"));
    assert_eq!(hdrs(&f), [("foo", "World"), ("foo", "Hello")]);
}

#[test]
fn header_unescaping_1_2() {
    let f = decode_one(b"MESSAGE\nfoo\\c\\\\:bar\\nbaz\\r\\c\n\n\0").unwrap();
    assert_eq!(hdrs(&f), [("foo:\\", "bar\nbaz\r:")]);
}

#[test]
fn header_unescaping_1_1_and_1_0() {
    let mut d = Decoder::default();
    d.set_version(Version::V1_1);
    let f = decode_all_with(d, b"SEND\na:x\\ny\\cz\\\\\n\n\0").unwrap();
    assert_eq!(hdrs(&f[0]), [("a", "x\ny:z\\")]);

    let mut d = Decoder::default();
    d.set_version(Version::V1_1);
    assert_eq!(
        decode_err_with(d, b"SEND\na:\\r\n\n\0"),
        ParseError::InvalidEscape
    );

    let mut d = Decoder::default();
    d.set_version(Version::V1_0);
    let f = decode_all_with(d, b"SEND\na:x\\ny\\t\n\n\0").unwrap();
    assert_eq!(hdrs(&f[0]), [("a", "x\\ny\\t")]);
}

#[test]
fn no_unescaping_for_connect_stomp_connected() {
    for cmd in ["CONNECT", "STOMP", "CONNECTED"] {
        let input = format!("{cmd}\nlogin:a\\nb\\t\npasscode:x:y\n\n\0");
        let f = decode_one(input.as_bytes()).unwrap();
        assert_eq!(hdrs(&f), [("login", "a\\nb\\t"), ("passcode", "x:y")]);
    }
}

#[test]
fn header_escaping_on_encode() {
    let f = Frame::new(Command::Message)
        .with_header("a:b", "c\\d\ne\rf")
        .with_header("plain", "v");
    assert_eq!(
        encoded(&f, Version::V1_2),
        b"MESSAGE\na\\cb:c\\\\d\\ne\\rf\nplain:v\n\n\0"
    );
    assert_eq!(
        encoded(&f, Version::V1_1),
        b"MESSAGE\na\\cb:c\\\\d\\ne\rf\nplain:v\n\n\0"
    );
    assert_eq!(
        encoded(&f, Version::V1_0),
        b"MESSAGE\na:b:c\\d\ne\rf\nplain:v\n\n\0"
    );
}

#[test]
fn no_escaping_on_encode_for_connected() {
    let f = Frame::new(Command::Connected)
        .with_header("version", "1.2")
        .with_header("server", "sotong/0.1 (a:b\\c)");
    assert_eq!(
        encoded(&f, Version::V1_2),
        b"CONNECTED\nversion:1.2\nserver:sotong/0.1 (a:b\\c)\n\n\0"
    );
}

#[test]
fn encode_adds_content_length_only_when_needed() {
    let f = Frame::new(Command::Message)
        .with_header("destination", "/topic/x")
        .with_body(&b"a\0b"[..]);
    assert_eq!(
        encoded(&f, Version::V1_2),
        b"MESSAGE\ndestination:/topic/x\ncontent-length:3\n\na\0b\0"
    );
    let f = f.with_header("content-length", "3");
    assert_eq!(
        encoded(&f, Version::V1_2),
        b"MESSAGE\ndestination:/topic/x\ncontent-length:3\n\na\0b\0"
    );
    assert_eq!(
        encoded(&Frame::new(Command::Receipt), Version::V1_2),
        b"RECEIPT\n\n\0"
    );
    let big = Frame::new(Command::Send).with_body(vec![b'x'; 12345]);
    let bytes = encoded(&big, Version::V1_2);
    assert!(bytes.starts_with(b"SEND\ncontent-length:12345\n\nxxx"));
    assert_eq!(
        bytes.len(),
        "SEND\ncontent-length:12345\n\n".len() + 12345 + 1
    );
}

#[test]
fn encode_appends_to_existing_buffer() {
    let mut out = BytesMut::from(&b"prefix"[..]);
    encode(
        &Frame::new(Command::Ack).with_header("id", "1"),
        Version::V1_2,
        &mut out,
    );
    assert_eq!(&out[..], b"prefixACK\nid:1\n\n\0");
}

// ----- errors -----

#[test]
fn invalid_command() {
    assert_eq!(decode_err(b"send\n\n\0"), ParseError::InvalidCommand);
    assert_eq!(decode_err(b"PUBLISH\n\n\0"), ParseError::InvalidCommand);
    assert_eq!(decode_err(b"SEND \n\n\0"), ParseError::InvalidCommand);
    assert_eq!(decode_err(b"\0"), ParseError::InvalidCommand);
    // An over-long command line is rejected before its EOL arrives.
    assert_eq!(
        decode_err(b"GET / HTTP/1.1 and more"),
        ParseError::InvalidCommand
    );
}

#[test]
fn invalid_header() {
    assert_eq!(
        decode_err(b"SEND\nnocolon\n\n\0"),
        ParseError::InvalidHeader
    );
    assert_eq!(decode_err(b"SEND\n:value\n\n\0"), ParseError::InvalidHeader);
    assert_eq!(decode_err(b"SEND\na:b\0c\n\n\0"), ParseError::InvalidHeader);
    assert_eq!(decode_err(b"SEND\na:b\rc\n\n\0"), ParseError::InvalidHeader);
    // A frame ending inside its headers is a NUL in a header line.
    assert_eq!(decode_err(b"SEND\na:b\0\n"), ParseError::InvalidHeader);
}

#[test]
fn invalid_escape() {
    assert_eq!(decode_err(b"SEND\na:\\t\n\n\0"), ParseError::InvalidEscape);
    assert_eq!(decode_err(b"SEND\na\\x:b\n\n\0"), ParseError::InvalidEscape);
    assert_eq!(decode_err(b"SEND\na:b\\\n\n\0"), ParseError::InvalidEscape);
}

#[test]
fn invalid_utf8() {
    assert_eq!(
        decode_err(b"SEND\na:\xff\xfe\n\n\0"),
        ParseError::InvalidUtf8
    );
    assert_eq!(decode_err(b"SEND\n\xc3:b\n\n\0"), ParseError::InvalidUtf8);
    // Bodies are opaque octets: no UTF-8 requirement.
    assert_eq!(
        &decode_one(b"SEND\n\n\xff\xfe\0").unwrap().body[..],
        b"\xff\xfe"
    );
    // Valid multi-byte UTF-8 is fine.
    let f = decode_one("SEND\nnom:caf\u{e9} \u{1f991}\n\n\0".as_bytes()).unwrap();
    assert_eq!(f.header("nom"), Some("caf\u{e9} \u{1f991}"));
}

#[test]
fn invalid_content_length() {
    for cl in ["abc", "", "-1", "+1", " 1", "1.0", "0x10"] {
        let input = format!("SEND\ncontent-length:{cl}\n\n\0");
        assert_eq!(
            decode_err(input.as_bytes()),
            ParseError::InvalidContentLength,
            "{cl:?}"
        );
    }
}

#[test]
fn missing_nul_after_content_length() {
    assert_eq!(
        decode_err(b"SEND\ncontent-length:3\n\nabcd\0"),
        ParseError::MissingNul
    );
    // Too short a body: the NUL position holds body bytes.
    assert_eq!(
        decode_err(b"SEND\ncontent-length:2\n\nabc\0"),
        ParseError::MissingNul
    );
}

#[test]
fn error_codes() {
    assert_eq!(ParseError::FrameTooLarge.code(), "too_large");
    assert_eq!(ParseError::HeaderTooLong.code(), "too_large");
    assert_eq!(ParseError::TooManyHeaders.code(), "too_large");
    for e in [
        ParseError::InvalidCommand,
        ParseError::InvalidHeader,
        ParseError::InvalidEscape,
        ParseError::InvalidUtf8,
        ParseError::InvalidContentLength,
        ParseError::MissingNul,
    ] {
        assert_eq!(e.code(), "malformed");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn decoder_recovers_after_error_on_fresh_buffer() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&b"BOGUS\n\n\0"[..]);
    assert_eq!(d.decode(&mut buf), Err(ParseError::InvalidCommand));
    let mut buf = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
    assert_eq!(d.decode(&mut buf).unwrap().unwrap().command, Command::Ack);
}

#[test]
fn shrunk_buffer_restarts_parsing() {
    let mut d = Decoder::default();
    let mut buf = BytesMut::from(&b"SEND\ndestination:/a\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.clear();
    buf.extend_from_slice(b"ACK\n\n\0");
    assert_eq!(d.decode(&mut buf).unwrap().unwrap().command, Command::Ack);
}

// ----- limits -----

fn small() -> Decoder {
    Decoder::new(small_limits())
}

#[test]
fn limits_defaults() {
    let l = Limits::default();
    assert_eq!(l.max_frame_bytes, 64 * 1024);
    assert_eq!(l.max_headers, 64);
    assert_eq!(l.max_header_bytes, 8 * 1024);
    assert_eq!(l.max_body_bytes, 64 * 1024);
}

#[test]
fn limit_too_many_headers() {
    assert!(decode_all_with(small(), b"SEND\na:1\nb:2\n\n\0").is_ok());
    assert_eq!(
        decode_err_with(small(), b"SEND\na:1\nb:2\nc:3\n\n\0"),
        ParseError::TooManyHeaders
    );
}

#[test]
fn limit_header_too_long() {
    // 16 octets exactly is allowed, with LF or CRLF.
    assert!(decode_all_with(small(), b"SEND\nabcdefgh:1234567\n\n\0").is_ok());
    assert!(decode_all_with(small(), b"SEND\nabcdefgh:1234567\r\n\n\0").is_ok());
    assert_eq!(
        decode_err_with(small(), b"SEND\nabcdefgh:12345678\n\n\0"),
        ParseError::HeaderTooLong
    );
    // Detected while the line is still incomplete.
    let mut d = small();
    let mut buf = BytesMut::from(&b"SEND\nabcdefgh:1234567"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"\r");
    assert_eq!(d.decode(&mut buf), Ok(None), "CR may be half of the EOL");
    buf.extend_from_slice(b"8");
    assert_eq!(d.decode(&mut buf), Err(ParseError::HeaderTooLong));
}

#[test]
fn limit_content_length_too_large_as_soon_as_headers_end() {
    let mut d = small();
    let mut buf = BytesMut::from(&b"SEND\ncontent-length:9\n\n"[..]);
    assert_eq!(d.decode(&mut buf), Err(ParseError::FrameTooLarge));
    assert_eq!(
        decode_err(b"SEND\ncontent-length:99999999999999999999999999\n\n"),
        ParseError::FrameTooLarge
    );
    assert!(decode_all_with(small(), b"SEND\ncontent-length:8\n\n12345678\0").is_ok());
}

#[test]
fn limit_body_without_content_length() {
    assert!(decode_all_with(small(), b"SEND\n\n12345678\0").is_ok());
    assert_eq!(
        decode_err_with(small(), b"SEND\n\n123456789\0"),
        ParseError::FrameTooLarge
    );
    // Detected before the NUL arrives.
    let mut d = small();
    let mut buf = BytesMut::from(&b"SEND\n\n12345678"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"9");
    assert_eq!(d.decode(&mut buf), Err(ParseError::FrameTooLarge));
}

#[test]
fn limit_whole_frame() {
    let limits = Limits {
        max_frame_bytes: 32,
        ..Limits::default()
    };
    // SEND\n (5) + a:... line + \n + NUL: exactly 32 octets is allowed.
    let ok = b"SEND\na:1234567890123456789012\n\n\0";
    assert_eq!(ok.len(), 32);
    assert!(decode_all_with(Decoder::new(limits), ok).is_ok());
    let too_big = b"SEND\na:12345678901234567890123\n\n\0";
    assert_eq!(
        decode_err_with(Decoder::new(limits), too_big),
        ParseError::FrameTooLarge
    );
    // Buffering an endless header section is cut off too.
    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\n"[..]);
    let mut err = None;
    for _ in 0..20 {
        buf.extend_from_slice(b"a:1\n");
        if let Err(e) = d.decode(&mut buf) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(ParseError::FrameTooLarge));
    // And an endless body.
    let mut d = Decoder::new(limits);
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    let mut err = None;
    for _ in 0..40 {
        buf.extend_from_slice(b"x");
        if let Err(e) = d.decode(&mut buf) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(ParseError::FrameTooLarge));
    assert!(buf.len() <= 33);
    // content-length that fits the body limit but not the frame limit.
    let limits = Limits {
        max_frame_bytes: 32,
        max_body_bytes: 100,
        ..Limits::default()
    };
    assert_eq!(
        decode_err_with(Decoder::new(limits), b"SEND\ncontent-length:30\n\n"),
        ParseError::FrameTooLarge
    );
}

#[test]
fn endless_heart_beats_are_not_buffered() {
    let mut d = small();
    let mut buf = BytesMut::new();
    for _ in 0..1000 {
        buf.extend_from_slice(b"\r\n\n");
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }
}

// ----- version negotiation -----

#[test]
fn version_negotiation() {
    assert_eq!(Version::negotiate(None), Some(Version::V1_0));
    assert_eq!(Version::negotiate(Some("1.2")), Some(Version::V1_2));
    assert_eq!(Version::negotiate(Some("1.0,1.1,1.2")), Some(Version::V1_2));
    assert_eq!(Version::negotiate(Some("1.2,1.0")), Some(Version::V1_2));
    assert_eq!(Version::negotiate(Some("1.0, 1.1")), Some(Version::V1_1));
    assert_eq!(Version::negotiate(Some("1.1,2.0")), Some(Version::V1_1));
    assert_eq!(Version::negotiate(Some("2.0")), None);
    assert_eq!(Version::negotiate(Some("")), None);
    assert_eq!(Version::V1_2.as_str(), "1.2");
    assert_eq!(Version::V1_1.as_str(), "1.1");
    assert_eq!(Version::V1_0.as_str(), "1.0");
    assert!(Version::V1_0 < Version::V1_1 && Version::V1_1 < Version::V1_2);
}

#[test]
fn decoder_version_accessors() {
    let mut d = Decoder::default();
    assert_eq!(d.version(), Version::V1_2);
    d.set_version(Version::V1_1);
    assert_eq!(d.version(), Version::V1_1);
    assert_eq!(d.limits().max_headers, 64);
}

// ----- property tests -----

const ALL_COMMANDS: [Command; 15] = [
    Command::Connect,
    Command::Stomp,
    Command::Send,
    Command::Subscribe,
    Command::Unsubscribe,
    Command::Begin,
    Command::Commit,
    Command::Abort,
    Command::Ack,
    Command::Nack,
    Command::Disconnect,
    Command::Connected,
    Command::Message,
    Command::Receipt,
    Command::Error,
];

/// Header text biased towards the octets escaping exists for.
fn header_text(special: &'static [char], min: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        2 => prop::sample::select(special),
        // Other characters, any Unicode (the specials map to a plain one).
        3 => any::<char>().prop_map(|c| match c {
            '\0' | '\r' | '\n' | ':' | '\\' => 'x',
            c => c,
        }),
    ];
    prop::collection::vec(ch, min..12).prop_map(String::from_iter)
}

/// Frames representable in `version`, excluding commands that skip escaping.
fn escaped_frame(version: Version) -> impl Strategy<Value = Frame> {
    let special: &'static [char] = match version {
        Version::V1_2 => &[':', '\n', '\\', '\r'],
        Version::V1_1 => &[':', '\n', '\\'],
        Version::V1_0 => &['a'],
    };
    let commands: Vec<Command> = ALL_COMMANDS
        .into_iter()
        .filter(|c| !c.skips_escaping())
        .collect();
    (
        prop::sample::select(commands),
        prop::collection::vec((header_text(special, 1), header_text(special, 0)), 0..6),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(command, headers, body)| Frame {
            command,
            headers: headers
                .into_iter()
                .filter(|(n, _)| n != "content-length")
                .collect(),
            body: Bytes::from(body),
        })
}

/// What decoding `encode(f)` should give: `f` plus the content-length the
/// encoder adds for a non-empty body.
fn expected_after_encode(f: &Frame) -> Frame {
    let mut f = f.clone();
    if !f.body.is_empty() && f.header("content-length").is_none() {
        f.headers.push("content-length", f.body.len().to_string());
    }
    f
}

fn round_trip(f: &Frame, version: Version) -> Result<Frame, ParseError> {
    let mut d = Decoder::default();
    d.set_version(version);
    let mut buf = BytesMut::new();
    encode(f, version, &mut buf);
    let out = d.decode(&mut buf)?.expect("a complete frame");
    assert!(buf.is_empty());
    Ok(out)
}

/// Byte soup made of STOMP-ish tokens, so random input reaches deep states.
fn stompish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"SEND\n".to_vec()),
        Just(b"MESSAGE\r\n".to_vec()),
        Just(b"CONNECT\n".to_vec()),
        Just(b"a:b\n".to_vec()),
        Just(b"x\\c:y\\n\n".to_vec()),
        Just(b"content-length:3\n".to_vec()),
        Just(b"content-length:0\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\\".to_vec()),
        Just(b":".to_vec()),
        Just(b"body".to_vec()),
        Just(b"\xff".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_round_trip_1_2(f in escaped_frame(Version::V1_2)) {
        prop_assert_eq!(round_trip(&f, Version::V1_2)?, expected_after_encode(&f));
    }

    #[test]
    fn prop_round_trip_1_1(f in escaped_frame(Version::V1_1)) {
        prop_assert_eq!(round_trip(&f, Version::V1_1)?, expected_after_encode(&f));
    }

    #[test]
    fn prop_round_trip_1_0(f in escaped_frame(Version::V1_0)) {
        prop_assert_eq!(round_trip(&f, Version::V1_0)?, expected_after_encode(&f));
    }

    #[test]
    fn prop_round_trip_unescaped_connect(
        command in prop::sample::select(vec![Command::Connect, Command::Stomp, Command::Connected]),
        headers in prop::collection::vec(
            ("[a-z-]{1,10}", "[ -~]{0,20}"), 0..6),
        version in prop::sample::select(vec![Version::V1_0, Version::V1_1, Version::V1_2]),
    ) {
        // CONNECT values may hold ':' and '\' verbatim.
        let f = Frame { command, headers: headers.into_iter().collect(), body: Bytes::new() };
        prop_assert_eq!(round_trip(&f, version)?, f);
    }

    #[test]
    fn prop_stream_of_frames_any_chunking(
        frames in prop::collection::vec(escaped_frame(Version::V1_2), 1..6),
        beats in prop::collection::vec(prop::sample::select(vec!["", "\n", "\r\n", "\n\n"]), 6),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut input = BytesMut::new();
        for (f, beat) in frames.iter().zip(beats.iter().cycle()) {
            input.extend_from_slice(beat.as_bytes());
            encode(f, Version::V1_2, &mut input);
        }
        let expected: Vec<Frame> = frames.iter().map(expected_after_encode).collect();
        let (got, err, rest) = decode_chunked(Decoder::default(), &input, &sizes);
        prop_assert_eq!(err, None);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&bytes);
        let _ = decode_all_with(small(), &bytes);
        let _ = decode_chunked(small(), &bytes, &[1]);
    }

    #[test]
    fn prop_chunking_does_not_change_result(
        bytes in stompish_bytes(),
        sizes in prop::collection::vec(1usize..16, 1..8),
        tight in any::<bool>(),
    ) {
        let make = || if tight { small() } else { Decoder::default() };
        let (whole, whole_err, whole_rest) = decode_chunked(make(), &bytes, &[usize::MAX]);
        let (chunked, chunked_err, chunked_rest) = decode_chunked(make(), &bytes, &sizes);
        prop_assert_eq!(&whole, &chunked);
        // Which limit trips first can depend on chunk boundaries; whether
        // the stream is rejected cannot.
        prop_assert_eq!(whole_err.is_some(), chunked_err.is_some());
        if whole_err.is_none() {
            prop_assert_eq!(whole_rest, chunked_rest);
        }
    }
}

#[test]
fn unlimited_limits_do_not_overflow() {
    let unlimited = Limits {
        max_frame_bytes: usize::MAX,
        max_headers: usize::MAX,
        max_header_bytes: usize::MAX,
        max_body_bytes: usize::MAX,
    };
    let input = format!("SEND\ncontent-length:{}\n\nabc", usize::MAX);
    assert_eq!(
        decode_err_with(Decoder::new(unlimited), input.as_bytes()),
        ParseError::FrameTooLarge
    );
    let input = format!("SEND\ncontent-length:{}\n\nabc", usize::MAX - 100);
    let mut d = Decoder::new(unlimited);
    let mut buf = BytesMut::from(input.as_bytes());
    assert_eq!(d.decode(&mut buf), Ok(None));
}

proptest! {
    #[test]
    fn prop_find_eol_matches_naive(
        hay in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200),
    ) {
        prop_assert_eq!(find_eol(&hay), hay.iter().position(|&b| b == b'\n'));
    }
}
