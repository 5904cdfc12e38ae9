//! Sans-IO framing: turning received bytes into [`Frame`]s and frames into bytes.
//!
//! The server owns the socket and a `BytesMut` receive buffer; it appends
//! whatever arrives (one WebSocket message, part of one, or several frames
//! at once) and calls [`Decoder::decode`] until it returns `Ok(None)`. No
//! I/O, no async: the codec can be fuzzed, property-tested and benchmarked
//! on plain byte slices.
//!
//! The decoder is incremental: it remembers how far it has parsed the frame
//! at the front of the buffer, so a frame trickling in one byte at a time
//! costs linear, not quadratic, work, and the size [`Limits`] are checked as
//! bytes arrive, so a peer cannot make the server buffer unboundedly by never
//! sending the terminating NUL.

use std::mem;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use memchr::{memchr, memchr2};

use crate::frame::{Entry, EntryList, Headers};
use crate::headers::{escape_into, find_octet, parse_decimal, scan_line, unescape_into, LineScan};
use crate::{Command, Frame, ParseError};

/// A STOMP protocol version, ordered so that negotiation can take the maximum.
///
/// The version only changes header escaping: 1.0 has none, 1.1 escapes
/// `\\` `\n` `:`, and 1.2 adds `\r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping.
    V1_0,
    /// STOMP 1.1: escapes `\\`, `\n` and `\c`.
    V1_1,
    /// STOMP 1.2: also escapes `\r`.
    V1_2,
}

impl Version {
    /// The version string used in `accept-version` and `version` headers.
    pub fn as_str(&self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Picks the version for a session from the client's `accept-version`
    /// header: "the server will respond with the highest version of the
    /// protocol that it has in common with the client". A `CONNECT` without
    /// the header is a 1.0 client ("then the 1.0 version of the protocol
    /// should be assumed"). `None` means no version in common, which the
    /// spec answers with an `ERROR` frame listing the supported versions.
    pub fn negotiate(accept_version: Option<&str>) -> Option<Version> {
        let Some(list) = accept_version else {
            return Some(Version::V1_0);
        };
        list.split(',')
            .filter_map(|v| match v.trim() {
                "1.0" => Some(Version::V1_0),
                "1.1" => Some(Version::V1_1),
                "1.2" => Some(Version::V1_2),
                _ => None,
            })
            .max()
    }
}

/// Size limits the decoder enforces while bytes arrive.
///
/// The spec allows servers to "place maximum limits on the number of frame
/// headers allowed in a single frame", "the maximum length of header lines"
/// and "the maximum size of a frame body", and requires that a client
/// exceeding them gets an `ERROR` frame and a closed connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Whole frame, command line to NUL inclusive; also the most bytes
    /// buffered for a frame that has not completed yet.
    pub max_frame_bytes: usize,
    /// Most header lines per frame.
    pub max_headers: usize,
    /// Longest header line, excluding its EOL.
    pub max_header_bytes: usize,
    /// Largest body, whether announced by `content-length` or NUL-terminated.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// Generous for chat (a message is a few hundred bytes) yet small enough
    /// that thousands of connections cannot exhaust memory.
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_headers: 64,
            max_header_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Where the decoder is inside the frame at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the command line (heart-beat EOLs may still come first).
    Command,
    /// Reading header lines until the blank line.
    Headers,
    /// Reading the body: `Some(n)` from `content-length`, `None` up to the first NUL.
    Body(Option<usize>),
}

/// Incremental STOMP frame decoder for one connection.
///
/// It keeps the parse position of the partial frame at the front of the
/// buffer between calls, so it must always be handed the same buffer, which
/// the caller may only append to (anything else is detected when the buffer
/// shrinks, and parsing then restarts from its front). After an error the
/// connection must be closed: the stream has no point to resynchronise at.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    version: Version,
    phase: Phase,
    command: Option<Command>,
    /// Offset of the first header line (just past the command line).
    headers_start: usize,
    /// The current frame's headers, as offsets relative to `headers_start`
    /// (or, once unescaped, into `unescaped`). Reused across frames.
    entries: Vec<Entry>,
    /// Unescaped copies of the current frame's headers that held escapes.
    unescaped: String,
    /// Index in `entries` of the first `content-length` header.
    content_length: Option<usize>,
    /// Whether a header line of the current frame holds a non-ASCII octet:
    /// only then must the block be UTF-8-validated when the headers end
    /// (an ASCII block is valid as it is).
    non_ascii: bool,
    /// Offset of the first unparsed line (or of the body) in the buffer.
    pos: usize,
    /// Offset up to which the buffer has been searched for the next EOL/NUL
    /// without finding it; always `>= pos`.
    scanned: usize,
}

impl Default for Decoder {
    /// A decoder with [`Limits::default`].
    fn default() -> Self {
        Decoder::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder for a fresh connection. It starts with 1.2 escaping rules:
    /// the first frame is `CONNECT`/`STOMP`, whose headers are never escaped,
    /// so the version only matters once it has been negotiated.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            version: Version::V1_2,
            phase: Phase::Command,
            command: None,
            headers_start: 0,
            entries: Vec::new(),
            unescaped: String::new(),
            content_length: None,
            non_ascii: false,
            pos: 0,
            scanned: 0,
        }
    }

    /// Switches header unescaping to the version negotiated on `CONNECT`.
    pub fn set_version(&mut self, v: Version) {
        self.version = v;
    }

    /// The escaping rules currently applied.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Parses one frame from the front of `buf`, consuming its bytes.
    /// `Ok(None)` means more bytes are needed; the partial frame stays in
    /// `buf` (its parse progress is kept here, so it is not re-scanned).
    /// Heart-beat EOLs (`\n` or `\r\n`) before a frame are consumed and skipped.
    ///
    /// STOMP 1.2: "The NULL octet can be optionally followed by multiple
    /// EOLs", and heart-beats are bare EOLs, so both are swallowed here and
    /// never surface as frames. Call this in a loop until `Ok(None)`: one
    /// buffer may hold several frames. On `Err` the decoder resets, but the
    /// connection should be closed (send `ERROR`, then close).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ParseError> {
        let result = self.decode_inner(buf);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        self.phase = Phase::Command;
        self.command = None;
        self.clear_headers();
        self.unescaped = String::new();
        self.pos = 0;
        self.scanned = 0;
    }

    /// Forgets the current frame's headers, keeping the list's capacity.
    fn clear_headers(&mut self) {
        self.entries.clear();
        self.unescaped.clear();
        self.content_length = None;
        self.non_ascii = false;
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ParseError> {
        if buf.len() < self.scanned {
            // The caller consumed or replaced the buffer behind our back.
            self.reset();
        }
        if self.phase == Phase::Command && self.pos == 0 {
            let skip = heart_beat_prefix(buf);
            if skip > 0 {
                buf.advance(skip);
                self.scanned = 0;
            }
            if buf.is_empty() {
                return Ok(None);
            }
        }
        loop {
            let body_len = match self.phase {
                Phase::Body(len) => len,
                Phase::Command | Phase::Headers => {
                    let tail = buf.get(self.scanned..).unwrap_or_default();
                    // A header line not scanned before (the usual case) is
                    // searched for its EOL and unusual octets at once.
                    let fresh = self.phase == Phase::Headers && self.scanned == self.pos;
                    let scan = if fresh { scan_line(tail) } else { None };
                    let Some(i) = scan.map(|s| s.eol).or_else(|| find_eol(tail)) else {
                        self.scanned = buf.len();
                        self.check_partial_line(buf)?;
                        return Ok(None);
                    };
                    let nl = self.scanned + i;
                    if nl + 1 > self.limits.max_frame_bytes {
                        return Err(ParseError::FrameTooLarge);
                    }
                    let start = self.pos;
                    let end = match buf.get(nl.wrapping_sub(1)) {
                        Some(b'\r') if nl > start => nl - 1,
                        _ => nl,
                    };
                    self.pos = nl + 1;
                    self.scanned = nl + 1;
                    self.parse_line(buf, start, end, scan)?;
                    continue;
                }
            };
            return self.parse_body(buf, body_len);
        }
    }

    /// Limit checks for a line whose EOL has not arrived yet, so that a peer
    /// streaming an endless line is cut off once it is provably too long.
    fn check_partial_line(&self, buf: &[u8]) -> Result<(), ParseError> {
        if buf.len() > self.limits.max_frame_bytes {
            return Err(ParseError::FrameTooLarge);
        }
        let partial = buf.get(self.pos..).unwrap_or_default();
        // A trailing CR may yet turn out to be half of a CRLF.
        let len = match partial {
            [.., b'\r'] => partial.len() - 1,
            _ => partial.len(),
        };
        match self.phase {
            // Commands are short upper-case words: anything else can be
            // rejected without waiting for the EOL.
            Phase::Command
                if len > Command::MAX_LEN
                    || !partial
                        .get(..len)
                        .unwrap_or_default()
                        .iter()
                        .all(u8::is_ascii_uppercase) =>
            {
                Err(ParseError::InvalidCommand)
            }
            Phase::Headers if len > self.limits.max_header_bytes => Err(ParseError::HeaderTooLong),
            _ => Ok(()),
        }
    }

    /// Handles one complete line `buf[start..end]` (EOL stripped) of the
    /// command/header section; `scan` is what [`scan_line`] found in it, if
    /// it was scanned in one pass.
    fn parse_line(
        &mut self,
        buf: &[u8],
        start: usize,
        end: usize,
        scan: Option<LineScan>,
    ) -> Result<(), ParseError> {
        let line = buf.get(start..end).unwrap_or_default();
        match self.phase {
            Phase::Command => {
                self.command = Some(Command::from_bytes(line).ok_or(ParseError::InvalidCommand)?);
                self.phase = Phase::Headers;
                self.headers_start = self.pos;
                self.clear_headers();
            }
            Phase::Headers if line.is_empty() => {
                let block = buf.get(self.headers_start..start).unwrap_or_default();
                let version = match self.command {
                    Some(c) if c.skips_escaping() => Version::V1_0,
                    _ => self.version,
                };
                // One memchr over the whole block finds out whether any
                // header needs unescaping at all; usually none does.
                let escaped = version > Version::V1_0 && memchr(b'\\', block).is_some();
                if self.non_ascii || escaped {
                    // Lines are split at ASCII octets, so a valid block has
                    // valid parts. An all-ASCII block needs no check here:
                    // it is valid as it is (and the frame's shared header
                    // text is checked once more when it is handed out).
                    let text = std::str::from_utf8(block).map_err(|_| ParseError::InvalidUtf8)?;
                    if escaped {
                        self.unescape_headers(text, version)?;
                    }
                }
                self.phase = Phase::Body(self.content_length_value(block)?);
            }
            Phase::Headers => self.check_header(line, start, scan)?,
            Phase::Body(_) => {}
        }
        Ok(())
    }

    /// Validates one header line and records where its name and value are.
    fn check_header(
        &mut self,
        line: &[u8],
        start: usize,
        scan: Option<LineScan>,
    ) -> Result<(), ParseError> {
        if line.len() > self.limits.max_header_bytes {
            return Err(ParseError::HeaderTooLong);
        }
        if self.entries.len() >= self.limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        let non_ascii = match scan {
            // The one-pass scan found no octet below 0x20 before the EOL.
            Some(s) => s.non_ascii,
            None => {
                // The grammar allows neither NUL (it would end the frame for
                // a NUL-scanning peer) nor CR outside the EOL in a header.
                if memchr2(0, b'\r', line).is_some() {
                    return Err(ParseError::InvalidHeader);
                }
                !line.is_ascii()
            }
        };
        // "header-name = 1*<any OCTET except CR or LF or ":">": split at the
        // first colon, and the name must not be empty. Later colons stay in
        // the value (1.0 peers and CONNECT frames cannot escape them).
        let colon = match find_octet(line, b':') {
            Some(0) | None => return Err(ParseError::InvalidHeader),
            Some(c) => c,
        };
        // No escape sequence unescapes to a letter or `-`, so the first
        // header whose unescaped name is `content-length` is the first
        // whose raw name is.
        if self.content_length.is_none() && line.get(..colon) == Some(b"content-length") {
            self.content_length = Some(self.entries.len());
        }
        self.non_ascii |= non_ascii;
        let rel = start - self.headers_start;
        let entry = Entry::new(false, rel..rel + colon, rel + colon + 1..rel + line.len());
        self.entries.push(entry.ok_or(ParseError::FrameTooLarge)?);
        Ok(())
    }

    /// Unescapes the headers of the (validated) header block `block` that
    /// hold escapes into `self.unescaped`, pointing their entries there.
    fn unescape_headers(&mut self, block: &str, version: Version) -> Result<(), ParseError> {
        for e in &mut self.entries {
            // Lines were split at ASCII octets (EOL, colon), so every entry
            // boundary is a `char` boundary of the validated block.
            let (Some(name), Some(value)) = (block.get(e.name()), block.get(e.value())) else {
                return Err(ParseError::InvalidHeader);
            };
            if memchr(b'\\', name.as_bytes()).is_none() && memchr(b'\\', value.as_bytes()).is_none()
            {
                continue;
            }
            let name_start = self.unescaped.len();
            unescape_into(name, version, &mut self.unescaped)?;
            let name_end = self.unescaped.len();
            unescape_into(value, version, &mut self.unescaped)?;
            let entry = Entry::new(true, name_start..name_end, name_end..self.unescaped.len());
            *e = entry.ok_or(ParseError::FrameTooLarge)?;
        }
        Ok(())
    }

    /// Reads `content-length` once the headers are complete, rejecting an
    /// oversized body before a single body byte is buffered.
    fn content_length_value(&self, block: &[u8]) -> Result<Option<usize>, ParseError> {
        // Repeated headers: "only the first header entry SHOULD be used".
        let Some(e) = self.content_length.and_then(|i| self.entries.get(i)) else {
            return Ok(None);
        };
        let store = if e.local {
            self.unescaped.as_bytes()
        } else {
            block
        };
        let v = store.get(e.value()).unwrap_or_default();
        let n = parse_decimal(v).ok_or_else(|| {
            if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
                // All digits but beyond u64: certainly too large.
                ParseError::FrameTooLarge
            } else {
                ParseError::InvalidContentLength
            }
        })?;
        let n = usize::try_from(n).map_err(|_| ParseError::FrameTooLarge)?;
        let frame_len = self.pos.checked_add(n).and_then(|end| end.checked_add(1));
        match frame_len {
            Some(len) if n <= self.limits.max_body_bytes && len <= self.limits.max_frame_bytes => {
                Ok(Some(n))
            }
            _ => Err(ParseError::FrameTooLarge),
        }
    }

    fn parse_body(
        &mut self,
        buf: &mut BytesMut,
        len: Option<usize>,
    ) -> Result<Option<Frame>, ParseError> {
        let body_len = match len {
            // "If a content-length header is included, this number of octets
            // MUST be read, regardless of whether or not there are NULL
            // octets in the body. The frame still needs to be terminated
            // with a NULL octet."
            Some(n) => match self.pos.checked_add(n).and_then(|nul| buf.get(nul)) {
                None => return Ok(None),
                Some(0) => n,
                Some(_) => return Err(ParseError::MissingNul),
            },
            // "If a content-length header is not included, the frame parser
            // will need to scan for the first NULL octet."
            None => {
                let from = self.scanned.max(self.pos);
                match memchr(0, buf.get(from..).unwrap_or_default()) {
                    None => {
                        self.scanned = buf.len();
                        if buf.len().saturating_sub(self.pos) > self.limits.max_body_bytes
                            || buf.len() > self.limits.max_frame_bytes
                        {
                            return Err(ParseError::FrameTooLarge);
                        }
                        return Ok(None);
                    }
                    Some(i) => {
                        let nul = from + i;
                        if nul - self.pos > self.limits.max_body_bytes
                            || nul + 1 > self.limits.max_frame_bytes
                        {
                            return Err(ParseError::FrameTooLarge);
                        }
                        nul - self.pos
                    }
                }
            }
        };
        // The checks above guarantee `pos + body_len < buf.len()`.
        let command = self.command.ok_or(ParseError::InvalidCommand)?;
        let shared = if self.entries.iter().any(|e| !e.local) {
            // The header block (and its blank line) becomes the frame's
            // shared header text: one reference-count bump, no copy.
            buf.advance(self.headers_start);
            let block = buf.split_to(self.pos - self.headers_start).freeze();
            ByteString::try_from(block).map_err(|_| ParseError::InvalidUtf8)?
        } else {
            buf.advance(self.pos);
            ByteString::new()
        };
        let body = if body_len == 0 {
            Bytes::new()
        } else {
            buf.split_to(body_len).freeze()
        };
        buf.advance(1);
        let headers = Headers::from_parts(
            shared,
            mem::take(&mut self.unescaped),
            EntryList::from_slice(&self.entries),
        );
        self.reset();
        Ok(Some(Frame {
            command,
            headers,
            body,
        }))
    }
}

/// Index of the first LF in `hay`. Header lines are tens of octets, where
/// a word-at-a-time scan beats memchr's SIMD set-up; past the first few
/// words memchr takes over so long lines still scan at SIMD speed.
fn find_eol(hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 64;
    match hay.get(SHORT..) {
        None => find_octet(hay, b'\n'),
        Some(rest) => find_octet(hay.get(..SHORT).unwrap_or_default(), b'\n')
            .or_else(|| memchr(b'\n', rest).map(|i| i + SHORT)),
    }
}

/// Length of the run of heart-beat EOLs (`\n` or `\r\n`) at the front of `buf`.
fn heart_beat_prefix(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i) {
            Some(b'\n') => i += 1,
            Some(b'\r') if buf.get(i + 1) == Some(&b'\n') => i += 2,
            _ => return i,
        }
    }
}

/// Serialises `frame` for a peer speaking `version`, appending to `out`.
///
/// Writes `COMMAND\n`, the headers escaped for `version` (not at all for
/// `CONNECT`/`STOMP`/`CONNECTED`, as the spec requires, nor for 1.0), a
/// `content-length` header when the body is non-empty and the frame has none
/// yet ("All frames MAY include a content-length header", and with one the
/// body may contain NULs), then the blank line, the body and the NUL.
///
/// 1.0 and 1.1 cannot represent a CR (1.0: nor LF or `:` in names) inside a
/// header; such octets are written verbatim, so callers must not put them in
/// headers destined for those peers.
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    let version = if frame.command.skips_escaping() {
        Version::V1_0
    } else {
        version
    };
    let command = frame.command.as_str().as_bytes();
    let headers_len = frame.headers.text_len() + 2 * frame.headers.len();
    // command + EOL, headers, a possible content-length line, blank line, body, NUL.
    out.reserve(command.len() + headers_len + 40 + frame.body.len());
    out.extend_from_slice(command);
    out.put_u8(b'\n');
    let mut has_content_length = false;
    for (name, value) in frame.headers.iter_octets() {
        has_content_length |= name == b"content-length";
        escape_into(name, version, out);
        out.put_u8(b':');
        escape_into(value, version, out);
        out.put_u8(b'\n');
    }
    if !frame.body.is_empty() && !has_content_length {
        out.extend_from_slice(b"content-length:");
        put_decimal(frame.body.len(), out);
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.extend_from_slice(&frame.body);
    out.put_u8(0);
}

/// Writes `n` in decimal without going through `fmt`.
fn put_decimal(mut n: usize, out: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests;
