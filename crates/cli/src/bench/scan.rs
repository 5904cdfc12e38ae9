//! The hot path of the receiving side: find STOMP frames in received bytes, and the send
//! timestamp in a delivery, without allocating.
//!
//! The workspace's codec ([`sotong_stomp::Decoder`]) returns an owned [`sotong_stomp::Frame`],
//! which costs an allocation per header name and value (about 4,000 instructions for a chat
//! MESSAGE, see `BENCHMARKS.md`): most of the few microseconds per delivery this tool may
//! spend. The bench only needs the command, one or two header values and the body, so this
//! module borrows them from the received buffer instead. Header values are not unescaped:
//! the values read here (`receipt-id`, `destination`, `message`) are ones the bench itself
//! chose, with nothing to escape. The codec still decodes the handshake frames and encodes
//! what the bench sends other than SENDs.

use memchr::memmem;
use std::sync::LazyLock;

/// The marker in front of the send time (nanoseconds since the Unix epoch) in every body the
/// bench publishes. It survives being embedded in JSON unchanged, so it is found the same
/// way in sotong's `{"type":"message","message":{…,"text":"…"}}` events and in a plain
/// broker's copy of the body.
pub(crate) const STAMP_MARKER: &[u8] = b"sent-ns=";

/// Built once: the searcher precomputes its tables for the marker.
static STAMP_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(STAMP_MARKER));

/// A STOMP frame borrowed from a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameRef<'a> {
    /// The command line, without its EOL.
    pub(crate) command: &'a [u8],
    /// The header lines, EOLs included, without the blank line that ends them.
    headers: &'a [u8],
    /// The body, without the terminating NUL.
    pub(crate) body: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// The raw value of the first header called `name` (STOMP 1.2: "only the first header
    /// entry SHOULD be used").
    pub(crate) fn header(&self, name: &str) -> Option<&'a [u8]> {
        header_in(self.headers, name.as_bytes())
    }
}

fn header_in<'a>(mut headers: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    while !headers.is_empty() {
        let end = memchr::memchr(b'\n', headers).unwrap_or(headers.len());
        let line = trim_cr(&headers[..end]);
        if line.len() > name.len() && line[name.len()] == b':' && line.starts_with(name) {
            return Some(&line[name.len() + 1..]);
        }
        headers = headers.get(end + 1..).unwrap_or_default();
    }
    None
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Why received bytes are not STOMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// A `content-length` that is not a number, or a body not followed by NUL.
    Malformed,
}

/// The next frame in `buf` and how many bytes it and any heart-beat EOLs before it take, or
/// `None` while the frame is incomplete (the caller keeps the bytes and appends more).
///
/// # Errors
/// [`ScanError::Malformed`] for a frame whose `content-length` is not a number or whose body
/// is not followed by NUL.
pub(crate) fn next_frame(buf: &[u8]) -> Result<Option<(FrameRef<'_>, usize)>, ScanError> {
    // STOMP 1.2 "Heart-beating": a heart-beat is an EOL, between frames.
    let start = buf
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let Some(command_end) = memchr::memchr(b'\n', rest) else {
        return Ok(None);
    };
    let command = trim_cr(&rest[..command_end]);
    // Header lines run to the first empty line.
    let headers_start = command_end + 1;
    let mut at = headers_start;
    let mut content_length = None;
    let headers_end = loop {
        let Some(len) = memchr::memchr(b'\n', &rest[at..]) else {
            return Ok(None);
        };
        let line = trim_cr(&rest[at..at + len]);
        if line.is_empty() {
            break at;
        }
        if content_length.is_none() {
            if let Some(value) = line.strip_prefix(b"content-length:") {
                content_length = Some(parse_u64(value).ok_or(ScanError::Malformed)? as usize);
            }
        }
        at += len + 1;
    };
    let body_start = headers_end + 1 + usize::from(rest.get(headers_end) == Some(&b'\r'));
    let body_start = body_start.min(rest.len());
    let body_end = match content_length {
        Some(len) => {
            let end = body_start + len;
            match rest.get(end) {
                None => return Ok(None),
                Some(0) => end,
                Some(_) => return Err(ScanError::Malformed),
            }
        }
        None => match memchr::memchr(0, &rest[body_start..]) {
            Some(len) => body_start + len,
            None => return Ok(None),
        },
    };
    let frame = FrameRef {
        command,
        headers: &rest[headers_start..headers_end],
        body: &rest[body_start..body_end],
    };
    Ok(Some((frame, start + body_end + 1)))
}

/// The send time the bench put in a body: the digits after [`STAMP_MARKER`].
pub(crate) fn stamp_in(body: &[u8]) -> Option<u64> {
    let at = STAMP_FINDER.find(body)? + STAMP_MARKER.len();
    let digits = body[at..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(body.len() - at);
    parse_u64(&body[at..at + digits])
}

/// A decimal number of at most 19 digits (so it cannot overflow), nothing else.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use sotong_stomp::{encode, Command, Frame, Version};

    fn frames(mut buf: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((frame, used)) = next_frame(buf).expect("valid") {
            out.push((frame.command.to_vec(), frame.body.to_vec()));
            buf = &buf[used..];
        }
        out
    }

    #[test]
    fn finds_frames_heart_beats_and_headers() {
        let buf = b"\n\r\nMESSAGE\ndestination:/topic/rooms/1\nseq:7\n\n{\"a\":1}\0\nRECEIPT\nreceipt-id:r42\n\n\0";
        let (first, used) = next_frame(buf).unwrap().unwrap();
        assert_eq!(first.command, b"MESSAGE");
        assert_eq!(first.header("destination"), Some(&b"/topic/rooms/1"[..]));
        assert_eq!(first.header("seq"), Some(&b"7"[..]));
        assert_eq!(first.header("se"), None);
        assert_eq!(first.body, b"{\"a\":1}");
        let (second, used2) = next_frame(&buf[used..]).unwrap().unwrap();
        assert_eq!(second.command, b"RECEIPT");
        assert_eq!(second.header("receipt-id"), Some(&b"r42"[..]));
        assert_eq!(used + used2, buf.len());
    }

    #[test]
    fn an_incomplete_frame_waits_for_more() {
        let whole = b"MESSAGE\nx:1\n\nbody\0";
        for cut in 0..whole.len() {
            assert_eq!(next_frame(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(next_frame(whole).unwrap().is_some());
        assert_eq!(next_frame(b"\n\n"), Ok(None));
    }

    #[test]
    fn content_length_allows_nul_in_the_body_and_crlf_is_accepted() {
        let buf = b"MESSAGE\r\ncontent-length:3\r\n\r\na\0b\0";
        let (frame, used) = next_frame(buf).unwrap().unwrap();
        assert_eq!(frame.command, b"MESSAGE");
        assert_eq!(frame.body, b"a\0b");
        assert_eq!(used, buf.len());
        assert_eq!(
            next_frame(b"MESSAGE\ncontent-length:2\n\nabc\0"),
            Err(ScanError::Malformed)
        );
        assert_eq!(
            next_frame(b"MESSAGE\ncontent-length:x\n\nabc\0"),
            Err(ScanError::Malformed)
        );
    }

    #[test]
    fn agrees_with_the_codec_on_what_it_encodes() {
        let frame = Frame::new(Command::Message)
            .with_header("destination", "/topic/rooms/3")
            .with_header("content-type", "application/json")
            .with_body(&b"{\"text\":\"sent-ns=17 hello\"}"[..]);
        let mut buf = BytesMut::new();
        encode(&frame, Version::V1_2, &mut buf);
        encode(&frame, Version::V1_2, &mut buf);
        let found = frames(&buf);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], (b"MESSAGE".to_vec(), frame.body.to_vec()));
    }

    #[test]
    fn extracts_the_stamp_from_sotong_and_broker_bodies() {
        let sotong = br#"{"type":"message","message":{"id":9,"roomId":1,"seq":3,"sender":{"id":1,"username":"b-1","displayName":"b-1"},"text":"sent-ns=1732600000123456789 xxxx","sentAt":"2026-01-01T00:00:00Z","clientMsgId":null}}"#;
        assert_eq!(stamp_in(sotong), Some(1_732_600_000_123_456_789));
        assert_eq!(stamp_in(br#"{"text":"sent-ns=5"}"#), Some(5));
        assert_eq!(stamp_in(b"sent-ns=12"), Some(12));
        assert_eq!(stamp_in(b"{\"type\":\"room\"}"), None);
        assert_eq!(stamp_in(b"sent-ns=x"), None);
        assert_eq!(stamp_in(b"sent-ns=99999999999999999999"), None);
    }

    #[test]
    fn parses_plain_decimal_numbers_only() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(
            parse_u64(b"18446744073709551"),
            Some(18_446_744_073_709_551)
        );
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1 "), None);
    }
}
