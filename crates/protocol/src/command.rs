//! The fifteen STOMP 1.2 frame commands.
//!
//! Commands are a closed set, so they are an enum rather than a string: the
//! server can `match` exhaustively, and an unknown command is rejected at the
//! codec boundary ("Unknown command" is a protocol error, not something to
//! route).

use std::fmt;

/// A STOMP frame command: the first line of every frame.
///
/// The spec splits them into client frames (sent to the broker) and server
/// frames (sent to clients); see [`Command::is_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `CONNECT`: client opens a STOMP session.
    Connect,
    /// `STOMP`: STOMP 1.2 alias of `CONNECT` that lets servers tell STOMP from HTTP.
    Stomp,
    /// `SEND`: client publishes a message to a destination.
    Send,
    /// `SUBSCRIBE`: client registers interest in a destination.
    Subscribe,
    /// `UNSUBSCRIBE`: client drops a subscription.
    Unsubscribe,
    /// `BEGIN`: client starts a transaction.
    Begin,
    /// `COMMIT`: client commits a transaction.
    Commit,
    /// `ABORT`: client rolls back a transaction.
    Abort,
    /// `ACK`: client acknowledges a message.
    Ack,
    /// `NACK`: client rejects a message.
    Nack,
    /// `DISCONNECT`: client asks for a graceful shutdown.
    Disconnect,
    /// `CONNECTED`: server accepts a `CONNECT`.
    Connected,
    /// `MESSAGE`: server delivers a message to a subscription.
    Message,
    /// `RECEIPT`: server confirms a frame that carried a `receipt` header.
    Receipt,
    /// `ERROR`: server reports a failure (and then closes the connection).
    Error,
}

impl Command {
    /// The command as it appears on the wire, so encoders and logs agree on spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Disconnect => "DISCONNECT",
            Command::Connected => "CONNECTED",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Recognises a command line (without its EOL). Commands are case-sensitive
    /// in STOMP, so `send` is `None`, as is anything else not in the spec.
    pub fn from_bytes(b: &[u8]) -> Option<Command> {
        Some(match b {
            b"SEND" => Command::Send,
            b"MESSAGE" => Command::Message,
            b"SUBSCRIBE" => Command::Subscribe,
            b"UNSUBSCRIBE" => Command::Unsubscribe,
            b"ACK" => Command::Ack,
            b"NACK" => Command::Nack,
            b"CONNECT" => Command::Connect,
            b"STOMP" => Command::Stomp,
            b"CONNECTED" => Command::Connected,
            b"RECEIPT" => Command::Receipt,
            b"ERROR" => Command::Error,
            b"BEGIN" => Command::Begin,
            b"COMMIT" => Command::Commit,
            b"ABORT" => Command::Abort,
            b"DISCONNECT" => Command::Disconnect,
            _ => return None,
        })
    }

    /// Whether clients may send this command. A server uses it to reject a
    /// client that sends e.g. `MESSAGE`, which only the broker may emit.
    pub fn is_client(&self) -> bool {
        !matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }

    /// Whether the spec leaves this frame's headers unescaped: "The CONNECT
    /// and CONNECTED frames do not escape the carriage return, line feed or
    /// colon octets in order to remain backward compatible with STOMP 1.0
    /// clients and servers." `STOMP` is an alias of `CONNECT`, so it too.
    pub(crate) fn skips_escaping(&self) -> bool {
        matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// Length of the longest command (`UNSUBSCRIBE` / `DISCONNECT` are 11 octets),
    /// so an incomplete command line can be rejected before its EOL arrives.
    pub(crate) const MAX_LEN: usize = 11;
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Command; 15] = [
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

    #[test]
    fn round_trips_every_command() {
        for c in ALL {
            assert_eq!(Command::from_bytes(c.as_str().as_bytes()), Some(c));
            assert!(c.as_str().len() <= Command::MAX_LEN);
            assert_eq!(c.to_string(), c.as_str());
        }
    }

    #[test]
    fn rejects_unknown_and_lowercase() {
        assert_eq!(Command::from_bytes(b"send"), None);
        assert_eq!(Command::from_bytes(b"PUBLISH"), None);
        assert_eq!(Command::from_bytes(b""), None);
        assert_eq!(Command::from_bytes(b"SEND "), None);
    }

    #[test]
    fn client_and_server_commands() {
        let server: Vec<_> = ALL.iter().filter(|c| !c.is_client()).collect();
        assert_eq!(
            server,
            [
                &Command::Connected,
                &Command::Message,
                &Command::Receipt,
                &Command::Error
            ]
        );
    }
}
