//! Typed ids and [`Seq`]: numbers on the wire, distinct types in Rust, so a room id is never
//! passed where a user id is expected and a `seq` is never mistaken for a count.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::num::TryFromIntError;
use std::ops::{Add, Sub};
use std::str::FromStr;

/// Declares a newtype over an integer that is a bare number in JSON, in headers and in paths.
///
/// Parsing is strict (no surrounding whitespace): the server reads these from destinations,
/// headers and URLs, where `/topic/rooms/ 7` must not name room 7. A reader that wants to be
/// lenient trims first.
macro_rules! number_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<$inner> for $name {
            fn from(value: $inner) -> Self {
                $name(value)
            }
        }
    };
}

number_type!(
    /// A user's id; stable for the user's lifetime, never reused.
    UserId(i64)
);
number_type!(
    /// A room's id, as in `/topic/rooms/{id}` and `/api/rooms/{id}`.
    RoomId(i64)
);
number_type!(
    /// A stored message's id: the STOMP `message-id` header of message events and of the
    /// `RECEIPT` of a send.
    MessageId(i64)
);
number_type!(
    /// An uploaded file's id, as in `/api/attachments/{id}`. Knowing it grants nothing: every
    /// fetch checks that the caller is a member of the attachment's room.
    AttachmentId(i64)
);
number_type!(
    /// A message's position in its room: the first message is 1 and every next one is 1 more,
    /// with no gaps. [`Seq::ZERO`] is "before the first message": an empty room's last `seq`,
    /// a read mark with nothing read.
    ///
    /// Gap-free numbering is what the delivery rules are built on (a reader that holds up to
    /// `n` knows exactly what it misses when `n + 2` arrives), so the type offers the steps
    /// those rules take and nothing that would make a `seq` out of an unrelated number.
    Seq(u64)
);

impl Seq {
    /// Before the first message of a room.
    pub const ZERO: Seq = Seq(0);

    /// The position right after this one. Saturates at the top of the range, where a bound a
    /// client sent (a `since-seq` of `u64::MAX`) must stay "after everything" rather than wrap
    /// around to the start.
    #[must_use]
    pub const fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }

    /// How many positions lie after `earlier` up to and including `self`; 0 when `earlier` is
    /// not before `self`. For example the messages after a read mark.
    #[must_use]
    pub const fn saturating_sub(self, earlier: Seq) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// `count` positions further on.
impl Add<u64> for Seq {
    type Output = Seq;

    fn add(self, count: u64) -> Seq {
        Seq(self.0 + count)
    }
}

/// `count` positions back.
impl Sub<u64> for Seq {
    type Output = Seq;

    fn sub(self, count: u64) -> Seq {
        Seq(self.0 - count)
    }
}

impl From<Seq> for u64 {
    fn from(seq: Seq) -> u64 {
        seq.0
    }
}

/// SQL stores a `seq` as a signed 64-bit integer; a negative one is not a position.
impl TryFrom<i64> for Seq {
    type Error = TryFromIntError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u64::try_from(value).map(Seq)
    }
}

/// SQL stores a `seq` as a signed 64-bit integer; one above `i64::MAX` does not fit.
impl TryFrom<Seq> for i64 {
    type Error = TryFromIntError;

    fn try_from(seq: Seq) -> Result<Self, Self::Error> {
        i64::try_from(seq.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bare_numbers_in_json_and_text() {
        assert_eq!(serde_json::to_string(&RoomId(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Seq(12)).unwrap(), "12");
        assert_eq!(serde_json::from_str::<Seq>("12").unwrap(), Seq(12));
        assert_eq!(serde_json::from_str::<UserId>("-3").unwrap(), UserId(-3));
        assert!(serde_json::from_str::<Seq>("-1").is_err());
        assert_eq!(RoomId(5).to_string(), "5");
        assert_eq!("12".parse::<Seq>().unwrap(), Seq(12));
        assert_eq!("9".parse::<MessageId>().unwrap(), MessageId(9));
        assert_eq!(RoomId::from(4), RoomId(4));
    }

    #[test]
    fn parsing_is_strict() {
        for bad in ["", " 7", "7 ", "x", "7.0"] {
            assert!(bad.parse::<RoomId>().is_err(), "{bad:?}");
        }
        assert!("-1".parse::<Seq>().is_err());
    }

    #[test]
    fn seq_steps() {
        assert_eq!(Seq::ZERO, Seq::default());
        assert_eq!(Seq::ZERO.next(), Seq(1));
        assert_eq!(Seq(u64::MAX).next(), Seq(u64::MAX), "saturates");
        assert_eq!(Seq(3) + 2, Seq(5));
        assert_eq!(Seq(5) - 2, Seq(3));
        assert_eq!(Seq(9).saturating_sub(Seq(4)), 5);
        assert_eq!(Seq(4).saturating_sub(Seq(9)), 0);
        assert!(Seq(1) < Seq(2) && Seq(2).max(Seq(1)) == Seq(2));
        assert_eq!(u64::from(Seq(8)), 8);
    }

    #[test]
    fn seq_converts_to_sql_integers_checked() {
        assert_eq!(Seq::try_from(7_i64), Ok(Seq(7)));
        assert!(Seq::try_from(-1_i64).is_err());
        assert_eq!(i64::try_from(Seq(7)), Ok(7));
        assert!(i64::try_from(Seq(u64::MAX)).is_err());
        assert_eq!(i64::try_from(Seq(i64::MAX as u64)), Ok(i64::MAX));
    }
}
