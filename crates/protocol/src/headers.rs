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

/// Appends the header text `b` to `out` with the escapes `version` defines.
#[inline]
pub(crate) fn escape_into(b: &[u8], version: Version, out: &mut BytesMut) {
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

/// A header line [`scan_line`] found to be plain: its EOL, and nothing
/// before it that needs a closer look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineScan {
    /// Index of the line's LF.
    pub(crate) eol: usize,
    /// Whether an octet before the EOL is not ASCII, i.e. the line needs
    /// UTF-8 validation.
    pub(crate) non_ascii: bool,
}

/// Finds the EOL of a plain header line: one whose octets before the EOL
/// (LF or CR LF) are all printable ASCII or non-ASCII, which is nearly every
/// line. A single test per word finds the first octet below 0x20, and in a
/// plain line that is the EOL itself. `None` when the first such octet is
/// anything else (NUL, a bare CR, TAB, ...), or when there is no EOL among
/// the first 64 octets (the line is incomplete or long): the caller then
/// falls back to the exact, separate scans.
pub(crate) fn scan_line(hay: &[u8]) -> Option<LineScan> {
    const WINDOW: usize = 64;
    let mut high = 0;
    let mut base = 0;
    while base < WINDOW {
        let w = word(hay.get(base..base + 8)?);
        let control = below_space(w);
        if control == 0 {
            high |= w;
            base += 8;
            continue;
        }
        // The lowest flag is exact: the first control octet.
        let first = control & control.wrapping_neg();
        high |= w & (first - 1);
        let at = base + (first.trailing_zeros() / 8) as usize;
        let eol = match (hay.get(at), hay.get(at + 1)) {
            (Some(b'\n'), _) => at,
            (Some(b'\r'), Some(b'\n')) => at + 1,
            _ => return None,
        };
        return Some(LineScan {
            eol,
            non_ascii: high & HI != 0,
        });
    }
    None
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Non-zero iff some octet of `v` is zero (the classic "haszero" trick).
fn zero_octet(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Non-zero iff some octet of `v` is below 0x20 (the "hasless" trick; like
/// [`zero_octet`], its lowest flag is exact).
fn below_space(v: u64) -> u64 {
    v.wrapping_sub(LO * 0x20) & !v & HI
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

/// Appends the header text `b` to `out` with the escapes `version` defines.resolved; `s` is
/// an already UTF-8-checked header part. Escapes are ASCII, so the result is
/// UTF-8 too. Appending lets one string per frame hold all its unescaped
/// headers.
pub(crate) fn unescape_into(s: &str, version: Version, out: &mut String) -> Result<(), ParseError> {
    if version == Version::V1_0 {
        out.push_str(s);
        return Ok(());
    }
    let allow_cr = version >= Version::V1_2;
    let mut rest = s;
    let mut next = memchr(b'\\', rest.as_bytes());
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
    Ok(())
}

/// Parses a `heart-beat` header value `"cx,cy"` (milliseconds) so the server
/// can negotiate heart-beating; `None` when it is not two decimal integers,
/// which the server should treat as a malformed `CONNECT`.
///
/// Spaces around the numbers are tolerated, since some clients emit `"0, 0"`.
pub fn parse_heart_beat(value: &str) -> Option<(u64, u64)> {
    let (x, y) = value.split_once(',')?;
    Some((
        parse_decimal(x.trim().as_bytes())?,
        parse_decimal(y.trim().as_bytes())?,
    ))
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

/// Strict non-negative decimal: no sign, no spaces, at least one digit;
/// `None` also when it does not fit in a `u64`. A hand-rolled loop, as
/// `content-length` is parsed for nearly every frame.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(n)
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

    /// Octets that matter to [`scan_line`], mixed with arbitrary ones.
    fn line_octet() -> impl Strategy<Value = u8> {
        prop_oneof![
            Just(b'\n'),
            Just(b'\r'),
            Just(b':'),
            Just(0u8),
            Just(b'\t'),
            Just(b' '),
            Just(b'!'),
            Just(0x1fu8),
            Just(0x7fu8),
            Just(0x80u8),
            Just(0xa0u8),
            Just(0xffu8),
            b'a'..=b'z',
            any::<u8>(),
        ]
    }

    /// What [`scan_line`] must return, the slow way.
    fn naive_scan(hay: &[u8]) -> Option<LineScan> {
        let window = &hay[..hay.len().min(64)];
        let at = window.iter().position(|&b| b < 0x20)?;
        let eol = match (hay[at], hay.get(at + 1)) {
            (b'\n', _) => at,
            (b'\r', Some(b'\n')) => at + 1,
            _ => return None,
        };
        // The word holding the EOL must be complete.
        if hay.len() < (at / 8 + 1) * 8 {
            return None;
        }
        Some(LineScan {
            eol,
            non_ascii: !hay[..at].is_ascii(),
        })
    }

    proptest! {
        #[test]
        fn prop_scan_line_matches_naive(hay in prop::collection::vec(line_octet(), 0..100)) {
            prop_assert_eq!(scan_line(&hay), naive_scan(&hay));
        }
    }

    #[test]
    fn scan_line_examples() {
        let scan = |s: &[u8]| scan_line(s).map(|l| (l.eol, l.non_ascii));
        assert_eq!(scan(b"destination:/a:b\nrest...."), Some((16, false)));
        assert_eq!(scan(b"a:b\r\nrest...."), Some((4, false)));
        assert_eq!(scan(b"\nbody...."), Some((0, false)));
        assert_eq!(scan(b"\r\nbody...."), Some((1, false)));
        assert_eq!(scan("caf\u{e9}:x\nbody...".as_bytes()), Some((7, true)));
        // Octets past the EOL do not count as non-ASCII.
        assert_eq!(scan("a:b\n\u{e9}\u{e9}\u{e9}".as_bytes()), Some((3, false)));
        // Anything else below 0x20 before the EOL: the caller looks closer.
        assert_eq!(scan(b"a:b\rc\nrest...."), None);
        assert_eq!(scan(b"a:\0b\nrest...."), None);
        assert_eq!(scan(b"a:\tb\nrest...."), None);
        // Too short to read a whole word, or no EOL in the first 64 octets.
        assert_eq!(scan(b"a:b\n"), None);
        assert_eq!(scan(b""), None);
        assert_eq!(scan(&[b'x'; 80]), None);
        let mut long = vec![b'x'; 80];
        long[63] = b'\n';
        assert_eq!(scan(&long), Some((63, false)));
        long[63] = b'x';
        long[64] = b'\n';
        assert_eq!(scan(&long), None);
        // A CR ending the window with its LF just past it still counts.
        long[63] = b'\r';
        assert_eq!(scan(&long), Some((64, false)));
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b"1 "), None);
        assert_eq!(parse_decimal(b"1/"), None);
        assert_eq!(parse_decimal(b"1:"), None);
    }

    fn unescape(s: &str, v: Version) -> Result<String, ParseError> {
        let mut out = String::new();
        unescape_into(s, v, &mut out).map(|()| out)
    }

    fn esc(s: &str, v: Version) -> String {
        let mut out = BytesMut::new();
        escape_into(s.as_bytes(), v, &mut out);
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
