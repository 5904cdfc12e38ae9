//! The server's rules about the wire's values (how names are normalised, how times are
//! written), over the shared objects of the contract.
//!
//! The objects themselves (typed ids, [`Seq`], [`User`], [`Room`], [`Message`], the event
//! bodies) live in `sotong-model`, shared with the SDK, and are re-exported here so that the
//! server names them all as `crate::model::X`. Storage rows stay inside the store
//! implementations, so a schema change never leaks onto the wire.
//!
//! Plain functions over values: nothing here reaches the store or a connection; the only
//! thing outside it reads is the clock (`now_millis`).

pub use sotong_model::{
    message_event_json, message_notification_json, Activity, Attachment, AttachmentId, ChangeKind,
    ErrorBody, ImageSize, Message, MessageId, NotificationBody, PresenceBody, PresenceState,
    PresenceWatch, Reaction, ReadMark, ReplyPreview, ResyncReason, Room, RoomEventBody, RoomId,
    RoomKind, RoomSummary, SearchHit, SearchResults, Seq, SnippetPart, User, UserId, UserPresence,
};

/// Formats a Unix time in milliseconds as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339_millis(unix_millis: i64) -> String {
    let nanos = i128::from(unix_millis) * 1_000_000;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
}

/// Now as Unix milliseconds: the store's clock for `sentAt` and activity ordering.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Validates and case-folds a username per the contract: 3–32 chars of `a-z 0-9 _ . -`.
///
/// # Errors
/// A human-readable reason when the name is not acceptable.
pub fn normalize_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !(3..=32).contains(&len) {
        return Err("a username has 3 to 32 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Err("a username may only use a-z, 0-9, '_', '.' and '-'".into());
    }
    Ok(name)
}

/// Whether `c` may be part of a username (`a-z 0-9 _ . -`, any case: mentions are matched
/// case-insensitively).
fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The usernames a message text names with `@username`, lower case, each once, in the order
/// they first appear: the candidates for mentions (the room rules keep those naming members).
///
/// A mention starts at the text's start or after a character that cannot continue a username
/// nor be an `@` (so `me@example.com` names nobody and `@@bob` neither). The name is the
/// longest run of username characters after the `@`, less any trailing `.` and `-`: those end
/// sentences (`@bob.`, `thanks @bob-`) far more often than they end names, so a username that
/// really ends in `.` or `-` cannot be mentioned by it (a documented trade-off; such names
/// are rare and still reachable by the room's member list). A run shorter than 3 or longer
/// than 32 characters is no username and names nobody.
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && previous.is_none_or(|p| !is_username_char(p) && p != '@');
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let run = rest
            .find(|c: char| !is_username_char(c))
            .map_or(rest, |end| &rest[..end]);
        let name = run.trim_end_matches(['.', '-']).to_ascii_lowercase();
        if (3..=32).contains(&name.len()) && !names.contains(&name) {
            names.push(name);
        }
        // The run itself cannot start another mention; skip it.
        for _ in 0..run.chars().count() {
            previous = chars.next().map(|(_, c)| c);
        }
    }
    names
}

/// Longest display name, in characters after normalisation.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest group name, in characters after normalisation.
pub const MAX_GROUP_NAME_CHARS: usize = 100;

/// Bidirectional formatting characters (embeddings, overrides, isolates, marks). A name is
/// shown inside other text (a message list, a room list), and one of these in it reorders what
/// follows: `"evil\u{202E}gnp.exe"` shows as `evilexe.png`. No name needs them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt): characters that render
/// as nothing (zero-width spaces, joiners, variation selectors, Hangul fillers, tags). A name made
/// only of them looks empty, and one sprinkled with them looks like another name.
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Normalises a name people read (a display name, a group name) so that it cannot pass for
/// something it is not: NFKC (full-width and styled letters become plain ones, so `Ａｌｉｃｅ` is
/// `Alice`), whitespace trimmed and runs of it collapsed to one space, invisible characters
/// removed (zero-width spaces and the like; the zero-width joiner and non-joiner stay, emoji
/// sequences and Persian or Indic names need them). Refused: bidirectional controls, control
/// characters, a name with nothing visible left, and one longer than `max_chars`.
///
/// Look-alikes from other scripts (Cyrillic `А` for Latin `A`) pass: display names are not
/// unique, so clients show the username beside them where it matters.
///
/// # Errors
/// A human-readable reason when the name is not acceptable.
pub fn normalize_name(raw: &str, what: &str, max_chars: usize) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::MixedScript;
    if raw.chars().any(is_bidi_control) {
        return Err(format!(
            "a {what} may not contain bidirectional control characters"
        ));
    }
    let mut name = String::with_capacity(raw.len());
    for word in raw
        .nfkc()
        .filter(|&c| !is_default_ignorable(c) || matches!(c, '\u{200C}' | '\u{200D}'))
        .collect::<String>()
        .split(char::is_whitespace)
        .filter(|w| !w.is_empty())
    {
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    if name.chars().any(char::is_control) {
        return Err(format!("a {what} may not contain control characters"));
    }
    // A word of Latin letters with one Cyrillic `А` looks like a name it is not (UTS #39,
    // mixed-script confusables). Whole words in any one script stay welcome, as do names whose
    // words are in different scripts; digits, punctuation and emoji belong to every script.
    if name.split(' ').any(|word| !word.is_single_script()) {
        return Err(format!(
            "a {what} may not mix the letters of different scripts within a word"
        ));
    }
    let visible = name
        .chars()
        .any(|c| !c.is_whitespace() && !is_default_ignorable(c));
    let len = name.chars().count();
    if !visible || len > max_chars {
        return Err(format!("a {what} has 1 to {max_chars} visible characters"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_at_the_start_and_after_punctuation() {
        assert_eq!(mentioned_usernames("@bob hi"), ["bob"]);
        assert_eq!(mentioned_usernames("hi @bob"), ["bob"]);
        assert_eq!(mentioned_usernames("(@bob) and,@carol"), ["bob", "carol"]);
        assert_eq!(mentioned_usernames("@Bob and @BOB"), ["bob"]);
        assert_eq!(mentioned_usernames("line\n@dave"), ["dave"]);
    }

    #[test]
    fn addresses_and_runs_of_at_signs_mention_nobody() {
        assert!(mentioned_usernames("mail me@example.com").is_empty());
        assert!(mentioned_usernames("@@bob").is_empty());
        assert!(mentioned_usernames("x_@bob").is_empty());
        assert!(mentioned_usernames("@ bob").is_empty());
        assert!(
            mentioned_usernames("@ab").is_empty(),
            "too short for a username"
        );
        assert!(mentioned_usernames(&format!("@{}", "a".repeat(33))).is_empty());
    }

    #[test]
    fn trailing_sentence_punctuation_is_not_part_of_the_name() {
        assert_eq!(mentioned_usernames("yes, @bob, see"), ["bob"]);
        assert_eq!(mentioned_usernames("ask @bob."), ["bob"]);
        assert_eq!(mentioned_usernames("ask @bob..."), ["bob"]);
        assert_eq!(mentioned_usernames("ask @bob-!"), ["bob"]);
        assert_eq!(mentioned_usernames("@j.doe-2 here"), ["j.doe-2"]);
        assert_eq!(mentioned_usernames("@bob.smith."), ["bob.smith"]);
    }

    fn display(raw: &str) -> Result<String, String> {
        normalize_name(raw, "display name", MAX_DISPLAY_NAME_CHARS)
    }

    #[test]
    fn a_word_may_not_mix_scripts_but_a_name_may() {
        assert!(
            display("\u{410}lice").is_err(),
            "Cyrillic A in a Latin word"
        );
        assert!(
            display("P\u{430}yPal").is_err(),
            "Cyrillic a in a Latin word"
        );
        for fine in [
            "Алиса",
            "Иван Smith",
            "김민수",
            "Kim 민수",
            "山田たろう",
            "O'Brien-Smith 😀",
            "R2-D2",
        ] {
            assert_eq!(display(fine).as_deref(), Ok(fine));
        }
    }

    #[test]
    fn display_names_are_normalised() {
        assert_eq!(
            display("  Alice   in\tWonderland ").as_deref(),
            Ok("Alice in Wonderland")
        );
        assert_eq!(
            display("Ａｌｉｃｅ").as_deref(),
            Ok("Alice"),
            "full-width folds to ASCII"
        );
        assert_eq!(
            display("𝐀𝐥𝐢𝐜𝐞").as_deref(),
            Ok("Alice"),
            "styled letters fold"
        );
        assert_eq!(
            display("Al\u{200B}ice").as_deref(),
            Ok("Alice"),
            "zero-width space removed"
        );
        assert_eq!(display("김민준").as_deref(), Ok("김민준"));
        assert_eq!(
            display("👩\u{200D}💻 dev").as_deref(),
            Ok("👩\u{200D}💻 dev"),
            "emoji sequences keep their joiner"
        );
    }

    #[test]
    fn invisible_and_reordering_names_are_refused() {
        for bad in [
            "",
            "   ",
            "\u{200B}",
            "\u{200B}\u{200C}\u{2060}",
            "\u{3164}",
            "\u{FEFF} \u{00AD}",
            "evil\u{202E}gnp.exe",
            "a\u{2066}b",
            "a\u{200F}",
            "a\u{061C}b",
            "tab\u{7}bell",
        ] {
            assert!(display(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(display(&"x".repeat(64)).is_ok());
        assert!(display(&"x".repeat(65)).is_err());
    }

    #[test]
    fn usernames_are_folded_and_checked() {
        assert_eq!(normalize_username("Alice").as_deref(), Ok("alice"));
        assert_eq!(normalize_username("a.b-c_9").as_deref(), Ok("a.b-c_9"));
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username("bad name").is_err());
        assert!(normalize_username("한국어이름").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_with_millis() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn ids_serialize_as_numbers() {
        assert_eq!(serde_json::to_string(&RoomId(7)).unwrap(), "7");
    }
}
