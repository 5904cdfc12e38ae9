//! Header value escaping and the `heart-beat` header.
//!
//! STOMP 1.1 introduced escaping so that header names and values can carry
//! octets that would otherwise end the line or split name from value. From
//! the 1.2 spec, "Value Encoding":
//!
//! > `\r` (octet 92 and 114) translates to carriage return (octet 13)
//! > `\n` (octet 92 and 110) translates to line feed (octet 10)
//! > `\c` (octet 92 and 99) translates to `:` (octet 58)
//! > `\\` (octet 92 and 92) translates to `\` (octet 92)
//! >
//! > Undefined escape sequences such as `\t` (octet 92 and 116) MUST be
//! > treated as a fatal protocol error.
//!
//! STOMP 1.1 defines the same minus `\r`; STOMP 1.0 has no escaping at all.
//! `CONNECT`/`STOMP`/`CONNECTED` frames are never escaped (see
//! [`Command`](crate::Command)), which the codec decides, not this module.
//!
//! It also holds the word-at-a-time (SWAR) octet scans the codec runs over
//! every header line: lines are tens of octets, too short for memchr's SIMD
//! paths to pay for their set-up, and the crate forbids `unsafe`.

use bytes::BytesMut;
use memchr::memchr;

use crate::{ParseError, Version};

/// Appends `s` to `out` with the escapes `version` defines.
pub(crate) fn escape_into(s: &str, version: Version, out: &mut BytesMut) {
    let b = s.as_bytes();
    if version == Version::V1_0 {
        out.extend_from_slice(b);
        return;
    }
    let escape_cr = version >= Version::V1_2;
    // Almost every header needs no escaping: copy it in one go.
    if !contains_any(b, [b'\\', b'\n', b':', b'\r']) {
        out.extend_from_slice(b);
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b':' => b"\\c",
            b'\r' if escape_cr => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(b.get(start..i).unwrap_or_default());
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(b.get(start..).unwrap_or_default());
}

/// Whether `s` contains any of `octets`, eight octets at a time (SWAR).
///
/// Header lines are short (tens of octets), too short for memchr's SIMD
/// paths to pay off, and this crate forbids `unsafe`; this keeps the common
/// "nothing to escape" check at about one cycle per octet.
#[inline]
pub(crate) fn contains_any<const N: usize>(s: &[u8], octets: [u8; N]) -> bool {
    let mut chunks = s.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        let w = word(chunk);
        for o in octets {
            found |= zero_octet(w ^ (LO * u64::from(o)));
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let w = tail_word(s, rest);
        for o in octets {
            found |= zero_octet(w ^ (LO * u64::from(o)));
        }
    }
    found != 0
}

/// Index of the first `needle` in `hay`, eight octets at a time (SWAR);
/// for the short slices (header names, header lines) where memchr's SIMD
/// dispatch costs more than the search.
pub(crate) fn find_octet(hay: &[u8], needle: u8) -> Option<usize> {
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let z = zero_octet(word(chunk) ^ pattern);
        if z != 0 {
            // Little-endian: the lowest flagged octet is the first match
            // (false positives can only sit above a true zero octet).
            return Some(base + (z.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return None;
    }
    // With a full word available, re-read the last 8 octets (the overlap
    // held no match); otherwise pad the tail with a non-matching octet.
    let (w, start) = match last_word(hay) {
        Some(w) => (w, hay.len() - 8),
        None => (padded_word(rest, needle ^ 1), base),
    };
    let z = zero_octet(w ^ pattern);
    (z != 0).then(|| start + (z.trailing_zeros() / 8) as usize)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Non-zero iff some octet of `v` is zero (the classic "haszero" trick).
fn zero_octet(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// An 8-octet chunk as a little-endian word.
fn word(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(src) = chunk.get(..8) {
        bytes.copy_from_slice(src);
    }
    u64::from_le_bytes(bytes)
}

/// The last 8 octets of `s`, if it has that many.
fn last_word(s: &[u8]) -> Option<u64> {
    s.len().checked_sub(8).and_then(|i| s.get(i..)).map(word)
}

/// A word covering the short tail `rest` of `s` without adding octets that
/// are not in `rest`: the last 8 octets of `s` when it has 8, otherwise
/// `rest` padded with copies of its own first octet.
fn tail_word(s: &[u8], rest: &[u8]) -> u64 {
    match last_word(s) {
        // Overlapping octets were already tested; re-testing them is harmless.
        Some(w) => w,
        None => padded_word(rest, rest.first().copied().unwrap_or(0)),
    }
}

/// Up to 8 octets as a little-endian word, missing octets set to `pad`.
fn padded_word(chunk: &[u8], pad: u8) -> u64 {
    let mut bytes = [pad; 8];
    for (b, &c) in bytes.iter_mut().zip(chunk) {
        *b = c;
    }
    u64::from_le_bytes(bytes)
}

/// Resolves the escapes `version` defines in an already UTF-8-checked header
/// part. Escapes are ASCII, so the result is UTF-8 too.
pub(crate) fn unescape(s: &str, version: Version) -> Result<String, ParseError> {
    if version == Version::V1_0 {
        return Ok(s.to_owned());
    }
    let Some(first) = memchr(b'\\', s.as_bytes()) else {
        return Ok(s.to_owned());
    };
    let allow_cr = version >= Version::V1_2;
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut next = Some(first);
    while let Some(i) = next {
        // `i` indexes an ASCII backslash, so both slices fall on char boundaries.
        out.push_str(rest.get(..i).ok_or(ParseError::InvalidEscape)?);
        let ch = match rest.as_bytes().get(i + 1) {
            Some(b'n') => '\n',
            Some(b'c') => ':',
            Some(b'\\') => '\\',
            Some(b'r') if allow_cr => '\r',
            _ => return Err(ParseError::InvalidEscape),
        };
        out.push(ch);
        rest = rest.get(i + 2..).ok_or(ParseError::InvalidEscape)?;
        next = memchr(b'\\', rest.as_bytes());
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a `heart-beat` header value `"cx,cy"` (milliseconds) so the server
/// can negotiate heart-beating; `None` when it is not two decimal integers,
/// which the server should treat as a malformed `CONNECT`.
///
/// Spaces around the numbers are tolerated, since some clients emit `"0, 0"`.
pub fn parse_heart_beat(value: &str) -> Option<(u64, u64)> {
    let (x, y) = value.split_once(',')?;
    Some((parse_decimal(x.trim())?, parse_decimal(y.trim())?))
}

/// Works out heart-beat periods from the server's point of view, following
/// the spec's rule: "if `<cx>` is 0 (the client cannot send heart-beats) or
/// `<sy>` is 0 (the server does not want to receive heart-beats) then there
/// will be none; otherwise, there will be heart-beats every MAX(`<cx>`,`<sy>`)
/// milliseconds", and symmetrically for the other direction.
///
/// `client` is the `CONNECT` header (`cx,cy`), `server` the value the server
/// puts in `CONNECTED` (`sx,sy`). Returns `(send_every_ms, expect_every_ms)`,
/// each `0` when that direction is disabled.
pub fn negotiate_heart_beat(client: (u64, u64), server: (u64, u64)) -> (u64, u64) {
    let (cx, cy) = client;
    let (sx, sy) = server;
    let send = if sx == 0 || cy == 0 { 0 } else { sx.max(cy) };
    let expect = if cx == 0 || sy == 0 { 0 } else { cx.max(sy) };
    (send, expect)
}

/// Strict non-negative decimal: no sign, no spaces, at least one digit.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn swar_scan_matches_naive() {
        let naive = |l: &[u8]| l.iter().any(|&b| b == 0 || b == b'\r' || b == b'\\');
        let mut line = vec![b'a'; 40];
        assert!(!contains_any(&line, [0, b'\r', b'\\']));
        for i in 0..line.len() {
            for special in [0u8, b'\r', b'\\', 0x80, 0xff, 0x0e, 0x5d, 0x01] {
                let saved = line[i];
                line[i] = special;
                for end in 0..=line.len() {
                    assert_eq!(
                        contains_any(&line[..end], [0, b'\r', b'\\']),
                        naive(&line[..end]),
                        "{special:#x} at {i} in len {end}"
                    );
                }
                line[i] = saved;
            }
        }
    }

    proptest! {
        #[test]
        fn prop_swar_scan_matches_naive(line in prop::collection::vec(any::<u8>(), 0..64)) {
            let naive = line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\\');
            prop_assert_eq!(contains_any(&line, [0, b'\r', b'\\']), naive);
            let naive4 = line.iter().any(|&b| matches!(b, b'\\' | b'\n' | b':' | b'\r'));
            prop_assert_eq!(contains_any(&line, [b'\\', b'\n', b':', b'\r']), naive4);
        }
    }

    proptest! {
        #[test]
        fn prop_find_octet_matches_naive(
            hay in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b':'), Just(0u8), Just(1u8), any::<u8>()], 0..160),
            needle in prop_oneof![Just(b'\n'), Just(b':'), Just(0u8), Just(1u8), any::<u8>()],
        ) {
            prop_assert_eq!(find_octet(&hay, needle), hay.iter().position(|&b| b == needle));
        }
    }

    fn esc(s: &str, v: Version) -> String {
        let mut out = BytesMut::new();
        escape_into(s, v, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn escapes_per_version() {
        let s = "a:b\\c\nd\re";
        assert_eq!(esc(s, Version::V1_2), "a\\cb\\\\c\\nd\\re");
        assert_eq!(esc(s, Version::V1_1), "a\\cb\\\\c\\nd\re");
        assert_eq!(esc(s, Version::V1_0), s);
        assert_eq!(esc("plain", Version::V1_2), "plain");
        assert_eq!(esc("", Version::V1_2), "");
    }

    #[test]
    fn unescapes_per_version() {
        assert_eq!(
            unescape("a\\cb\\\\c\\nd\\re", Version::V1_2).unwrap(),
            "a:b\\c\nd\re"
        );
        assert_eq!(
            unescape("a\\re", Version::V1_1),
            Err(ParseError::InvalidEscape)
        );
        assert_eq!(unescape("a\\re", Version::V1_0).unwrap(), "a\\re");
        assert_eq!(
            unescape("\\t", Version::V1_2),
            Err(ParseError::InvalidEscape)
        );
        assert_eq!(
            unescape("end\\", Version::V1_2),
            Err(ParseError::InvalidEscape)
        );
        assert_eq!(unescape("ünï\\ccode", Version::V1_2).unwrap(), "ünï:code");
    }

    #[test]
    fn heart_beat_header() {
        assert_eq!(parse_heart_beat("0,0"), Some((0, 0)));
        assert_eq!(parse_heart_beat("10000,5000"), Some((10000, 5000)));
        assert_eq!(parse_heart_beat(" 100 , 200 "), Some((100, 200)));
        assert_eq!(parse_heart_beat("100"), None);
        assert_eq!(parse_heart_beat("a,b"), None);
        assert_eq!(parse_heart_beat("-1,0"), None);
        assert_eq!(parse_heart_beat("+1,0"), None);
        assert_eq!(parse_heart_beat("1,2,3"), None);
        assert_eq!(parse_heart_beat(""), None);
        assert_eq!(parse_heart_beat("99999999999999999999999,0"), None);
    }

    #[test]
    fn heart_beat_negotiation() {
        // Client can send every 10s and wants one every 5s; server sends every
        // 1s at best and wants one every 20s.
        assert_eq!(
            negotiate_heart_beat((10_000, 5_000), (1_000, 20_000)),
            (5_000, 20_000)
        );
        assert_eq!(negotiate_heart_beat((0, 0), (1_000, 1_000)), (0, 0));
        assert_eq!(negotiate_heart_beat((1_000, 1_000), (0, 0)), (0, 0));
    }
}
