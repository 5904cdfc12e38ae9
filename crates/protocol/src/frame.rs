//! The in-memory STOMP frame: command, ordered headers, opaque body.
//!
//! Headers are kept as an ordered list rather than a map because the spec
//! gives repeated headers a meaning: "If a client or a server receives
//! repeated frame header entries, only the first header entry SHOULD be used
//! as the value of header entry. Subsequent values are only used to maintain a
//! history of state changes of the header and MAY be ignored." Frames have a
//! handful of headers, so a linear scan beats hashing anyway.
//!
//! Decoding is the server's hottest path, and allocating a `String` per
//! header name and value used to be most of its cost. So [`Headers`] keeps
//! the text of a decoded frame where it arrived: the frame's header block is
//! frozen out of the receive buffer once (a reference-count bump, no copy),
//! checked to be UTF-8 as a whole, and each header is a pair of offsets into
//! it, stored inline for up to eight headers. Only headers that held escapes
//! get an unescaped copy, in one per-frame string that also takes the
//! headers added with [`Headers::push`]. A decoded frame with up to eight
//! headers and no escapes therefore costs no allocation at all.

use std::fmt;
use std::iter::FusedIterator;
use std::ops::Range;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use crate::Command;

/// One STOMP frame, already unescaped: what the decoder produces and the encoder consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's command line.
    pub command: Command,
    /// Headers in wire order, with escapes resolved; duplicates are preserved.
    pub headers: Headers,
    /// The body octets. Decoded bodies share the receive buffer (zero-copy).
    pub body: Bytes,
}

impl Frame {
    /// An empty frame, the starting point for the builder methods below.
    pub fn new(command: Command) -> Self {
        Frame {
            command,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header (keeping any earlier one of the same name, which then
    /// still wins in [`Frame::header`]); builder style so server frames read
    /// as one expression. Takes anything string-like (`&str`, `String`,
    /// `&String`, ...): the text is copied into the frame's own header store.
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Replaces the body. The encoder adds `content-length` for it.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`: the spec says only the
    /// first of repeated entries "SHOULD be used". Names are case-sensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// The ordered headers of a [`Frame`], escapes resolved, duplicates kept.
///
/// It reads like a list of `(&str, &str)` pairs ([`Headers::iter`],
/// [`Headers::get`]) but is stored so that decoding allocates nothing per
/// header: names and values of a decoded frame point into one shared,
/// UTF-8-checked slice of the receive buffer. That slice keeps its part of
/// the buffer's allocation alive for as long as the frame lives, just as the
/// zero-copy body does.
///
/// Two lists are equal when they hold the same pairs in the same order,
/// however each one is stored.
#[derive(Default)]
pub struct Headers {
    /// Text of decoded headers that needed no unescaping: the frame's header
    /// block as it arrived, shared with the receive buffer.
    shared: ByteString,
    /// Text of headers added with [`Headers::push`] and of decoded headers
    /// that held escapes, unescaped.
    local: String,
    /// Where each header's name and value are, in order.
    entries: EntryList,
}

/// The entries of a [`Headers`]: typical frames have up to eight headers,
/// which then live inline, so a decoded frame allocates nothing for them.
pub(crate) type EntryList = SmallVec<[Entry; 8]>;

/// Where one header's name and value sit in a [`Headers`]' text.
///
/// Offsets are `u32` so that the eight inline entries take 160 bytes, not
/// 320: a header block, bounded by the frame size limit, is far below 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `true`: the offsets index `Headers::local`; `false`: `Headers::shared`.
    pub(crate) local: bool,
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

impl Entry {
    /// An entry for the name at `name` and the value at `value`; `None` when
    /// an offset does not fit in 32 bits.
    pub(crate) fn new(local: bool, name: Range<usize>, value: Range<usize>) -> Option<Entry> {
        Some(Entry {
            local,
            name_start: u32::try_from(name.start).ok()?,
            name_end: u32::try_from(name.end).ok()?,
            value_start: u32::try_from(value.start).ok()?,
            value_end: u32::try_from(value.end).ok()?,
        })
    }

    /// Where the name is in its store.
    pub(crate) fn name(&self) -> Range<usize> {
        self.name_start as usize..self.name_end as usize
    }

    /// Where the value is in its store.
    pub(crate) fn value(&self) -> Range<usize> {
        self.value_start as usize..self.value_end as usize
    }
}

/// Room reserved in the local store on its first use: typical frames built
/// with [`Frame::with_header`] fit, so the builder grows it once.
const LOCAL_INITIAL_CAPACITY: usize = 128;

impl Headers {
    /// An empty list, as in [`Frame::new`].
    pub const fn new() -> Self {
        Headers {
            shared: ByteString::new(),
            local: String::new(),
            entries: SmallVec::new_const(),
        }
    }

    /// Assembles a decoded frame's headers; the decoder guarantees every
    /// entry's offsets fall on `char` boundaries of its store.
    pub(crate) fn from_parts(shared: ByteString, local: String, entries: EntryList) -> Self {
        Headers {
            shared,
            local,
            entries,
        }
    }

    /// How many headers there are, duplicates included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first header called `name` (case-sensitive), the one
    /// the spec says "SHOULD be used" when a header is repeated.
    pub fn get(&self, name: &str) -> Option<&str> {
        let e = self
            .entries
            .iter()
            .find(|e| self.octets(e.local, e.name()) == name.as_bytes())?;
        Some(self.text(e.local, e.value()))
    }

    /// The `(name, value)` pairs in wire order, so callers that need every
    /// header (the encoder, logging, tests) need not know the storage.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter {
            headers: self,
            entries: self.entries.iter(),
        }
    }

    /// Appends a header after the existing ones; an earlier header of the
    /// same name keeps winning in [`Headers::get`].
    ///
    /// # Panics
    ///
    /// If the text pushed onto one list exceeds 4 GiB, which no peer would
    /// accept as a frame anyway.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if self.local.capacity() == 0 {
            self.local
                .reserve(LOCAL_INITIAL_CAPACITY.max(name.len() + value.len()));
        }
        let name_start = self.local.len();
        self.local.push_str(name);
        let name_end = self.local.len();
        self.local.push_str(value);
        let entry = Entry::new(true, name_start..name_end, name_end..self.local.len());
        self.entries
            .push(entry.expect("a frame's header text stays below 4 GiB"));
    }

    /// The `(name, value)` pairs as octets, for the encoder: the same text
    /// as [`Headers::iter`] without the `char` boundary checks of `&str`
    /// slicing, which would be most of the cost of copying a short header.
    pub(crate) fn iter_octets(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (local, shared): (&[u8], &[u8]) = (self.local.as_bytes(), self.shared.as_bytes());
        self.entries.iter().map(move |e| {
            let store = if e.local { local } else { shared };
            (
                store.get(e.name()).unwrap_or_default(),
                store.get(e.value()).unwrap_or_default(),
            )
        })
    }

    /// Total length of all names and values, so the encoder can reserve
    /// room in one go.
    pub(crate) fn text_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.name().len() + e.value().len())
            .sum()
    }

    /// The octets at `range` of one store.
    fn octets(&self, local: bool, range: Range<usize>) -> &[u8] {
        let store: &[u8] = if local {
            self.local.as_bytes()
        } else {
            self.shared.as_bytes()
        };
        store.get(range).unwrap_or_default()
    }

    /// The text at `range` of one store.
    fn text(&self, local: bool, range: Range<usize>) -> &str {
        let store: &str = if local { &self.local } else { &self.shared };
        store.get(range).unwrap_or_default()
    }

    /// One entry as its `(name, value)` pair.
    fn pair(&self, e: &Entry) -> (&str, &str) {
        (self.text(e.local, e.name()), self.text(e.local, e.value()))
    }
}

impl Clone for Headers {
    /// A reference-count bump for the shared text, a copy of the rest.
    fn clone(&self) -> Self {
        Headers {
            shared: self.shared.clone(),
            local: self.local.clone(),
            entries: EntryList::from_slice(&self.entries),
        }
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    /// Prints as the list of pairs it stands for, not its storage.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for Headers {
    /// Appends each pair as [`Headers::push`] would.
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.push(name, value);
        }
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    /// A list of the given pairs, in order; handy for building frames in tests.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        headers.extend(iter);
        headers
    }
}

/// Iterator over the `(name, value)` pairs of a [`Headers`], in wire order.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    headers: &'a Headers,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|e| self.headers.pair(e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for HeaderIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.entries.next_back().map(|e| self.headers.pair(e))
    }
}

impl ExactSizeIterator for HeaderIter<'_> {}

impl FusedIterator for HeaderIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_appends_and_first_header_wins() {
        let f = Frame::new(Command::Send)
            .with_header("destination", "/a")
            .with_header("destination", "/b")
            .with_body("hi");
        assert_eq!(f.header("destination"), Some("/a"));
        assert_eq!(f.header("Destination"), None);
        assert_eq!(f.headers.len(), 2);
        assert_eq!(&f.body[..], b"hi");
    }

    #[test]
    fn builder_takes_str_string_and_string_ref() {
        let owned = String::from("v2");
        let f = Frame::new(Command::Send)
            .with_header("a", "v1")
            .with_header(String::from("b"), &owned)
            .with_header(&owned, owned.clone())
            .with_header("empty", "");
        assert_eq!(
            f.headers.iter().collect::<Vec<_>>(),
            [("a", "v1"), ("b", "v2"), ("v2", "v2"), ("empty", "")]
        );
        assert_eq!(f.header("empty"), Some(""));
    }

    #[test]
    fn equality_ignores_storage() {
        let shared = ByteString::from_static("x:1\ny:2\n");
        let decoded = Headers::from_parts(
            shared,
            "z\\3".to_owned(),
            [
                Entry::new(false, 0..1, 2..3).unwrap(),
                Entry::new(true, 0..1, 1..3).unwrap(),
            ]
            .into_iter()
            .collect(),
        );
        let built: Headers = [("x", "1"), ("z", "\\3")].into_iter().collect();
        assert_eq!(decoded, built);
        assert_eq!(format!("{decoded:?}"), r#"[("x", "1"), ("z", "\\3")]"#);
        let other: Headers = [("x", "1")].into_iter().collect();
        assert_ne!(decoded, other);
        assert_ne!(other, Headers::new());
        assert_eq!(Headers::new(), Headers::default());
        assert_eq!(decoded.iter().next_back(), Some(("z", "\\3")));
        assert_eq!(decoded.iter().len(), 2);
    }

    #[test]
    fn extend_and_iterate_by_reference() {
        let mut h = Headers::new();
        assert!(h.is_empty());
        h.extend([("a", "1"), ("a", "2")]);
        h.push("b", String::from("3"));
        let mut seen = Vec::new();
        for (n, v) in &h {
            seen.push(format!("{n}={v}"));
        }
        assert_eq!(seen, ["a=1", "a=2", "b=3"]);
        assert_eq!(h.get("a"), Some("1"));
        assert_eq!(h.get("c"), None);
    }
}
