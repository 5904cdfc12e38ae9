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
