//! The in-memory STOMP frame: command, ordered headers, opaque body.
//!
//! Headers are kept as an ordered `Vec` rather than a map because the spec
//! gives repeated headers a meaning: "If a client or a server receives
//! repeated frame header entries, only the first header entry SHOULD be used
//! as the value of header entry. Subsequent values are only used to maintain a
//! history of state changes of the header and MAY be ignored." Frames have a
//! handful of headers, so a linear scan beats hashing anyway.

use bytes::Bytes;

use crate::Command;

/// One STOMP frame, already unescaped: what the decoder produces and the encoder consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's command line.
    pub command: Command,
    /// Headers in wire order, with escapes resolved; duplicates are preserved.
    pub headers: Vec<(String, String)>,
    /// The body octets. Decoded bodies share the receive buffer (zero-copy).
    pub body: Bytes,
}

impl Frame {
    /// An empty frame, the starting point for the builder methods below.
    pub fn new(command: Command) -> Self {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header (keeping any earlier one of the same name, which then
    /// still wins in [`Frame::header`]); builder style so server frames read
    /// as one expression.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
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
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

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
}
