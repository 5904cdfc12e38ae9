//! The rules of message search that need no store: what a query is (its words), what the
//! cursor of a page looks like, and how a hit's text is cut into a snippet of plain and
//! matching runs.
//!
//! A query is words separated by white space; a message matches when its text holds every
//! word as a substring, ignoring case (`안녕` finds `안녕하세요`, `hello` finds `HELLO`). The
//! store looks words of three characters or more up in its trigram index and answers a query
//! of shorter words only from a bounded scan (`store::SEARCH_SCAN_WINDOW`). The room rules
//! (`rooms::Chat::search`) decide who may search what; this module only shapes values.

use crate::error::Error;
use crate::model::{MessageId, SnippetPart};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// The most words in one query.
pub const MAX_QUERY_WORDS: usize = 10;

/// How many characters of a long text a snippet shows.
pub const SNIPPET_CHARS: usize = 160;

/// How many characters before the first match a cut snippet keeps, so the match is read in
/// context.
const SNIPPET_LEAD: usize = 40;

/// The words of a query: lower case, distinct, in the order written.
///
/// # Errors
/// `Invalid` for a query with no word, over [`MAX_QUERY_CHARS`] characters or over
/// [`MAX_QUERY_WORDS`] words.
pub fn query_words(q: &str) -> Result<Vec<String>, Error> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::Invalid(format!(
            "q has at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut words: Vec<String> = Vec::new();
    for word in q.split_whitespace() {
        let word: String = word.chars().filter(|c| !c.is_control()).collect();
        let word = word.to_lowercase();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return Err(Error::Invalid("q must hold a word to search for".into()));
    }
    if words.len() > MAX_QUERY_WORDS {
        return Err(Error::Invalid(format!(
            "q has at most {MAX_QUERY_WORDS} words"
        )));
    }
    Ok(words)
}

/// The cursor a page hands out: opaque to clients, the id below which the next page looks.
pub fn cursor(next: MessageId) -> String {
    next.0.to_string()
}

/// Reads a cursor from [`cursor`].
///
/// # Errors
/// `Invalid` for anything else.
pub fn parse_cursor(raw: &str) -> Result<MessageId, Error> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(MessageId)
        .ok_or_else(|| Error::Invalid("before is the next cursor of an earlier page".into()))
}

/// The ranges (in characters of `text`, end exclusive, sorted, merged) where a word occurs,
/// ignoring case. Lower-casing can change a character's length (`İ` becomes two), so matches
/// are found in the lower-cased text and mapped back to the characters they came from.
pub fn match_ranges(text: &str, words: &[String]) -> Vec<(usize, usize)> {
    let mut folded: Vec<char> = Vec::with_capacity(text.len());
    let mut origin: Vec<usize> = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        for lower in c.to_lowercase() {
            folded.push(lower);
            origin.push(i);
        }
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for word in words {
        let word: Vec<char> = word.chars().collect();
        if word.is_empty() || word.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - word.len() {
            if folded[start..start + word.len()] == word[..] {
                ranges.push((origin[start], origin[start + word.len() - 1] + 1));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The text around its first match, in runs of plain and matching characters; a text longer
/// than [`SNIPPET_CHARS`] is cut, with `…` where it was.
pub fn snippet(text: &str, words: &[String]) -> Vec<SnippetPart> {
    let chars: Vec<char> = text.chars().collect();
    let ranges = match_ranges(text, words);
    let (from, to) = if chars.len() <= SNIPPET_CHARS {
        (0, chars.len())
    } else {
        let first = ranges.first().map_or(0, |r| r.0);
        let from = first
            .saturating_sub(SNIPPET_LEAD)
            .min(chars.len() - SNIPPET_CHARS);
        (from, from + SNIPPET_CHARS)
    };
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |text: String, matched: bool| {
        if text.is_empty() {
            return;
        }
        match parts.last_mut() {
            Some(last) if last.matched == matched => last.text.push_str(&text),
            _ => parts.push(SnippetPart { text, matched }),
        }
    };
    if from > 0 {
        push("…".into(), false);
    }
    let mut at = from;
    for &(start, end) in &ranges {
        let (start, end) = (start.max(from), end.min(to));
        if start >= end {
            continue;
        }
        push(chars[at..start].iter().collect(), false);
        push(chars[start..end].iter().collect(), true);
        at = end;
    }
    push(chars[at..to].iter().collect(), false);
    if to < chars.len() {
        push("…".into(), false);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &str) -> Vec<String> {
        query_words(q).expect("a valid query")
    }

    fn render(parts: &[SnippetPart]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.matched {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn words_are_lower_case_distinct_and_bounded() {
        assert_eq!(words("  Hello   HELLO 안녕 "), vec!["hello", "안녕"]);
        assert!(query_words("   ").is_err());
        assert!(query_words(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(query_words("a b c d e f g h i j k").is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        assert_eq!(
            parse_cursor(&cursor(MessageId(42))).ok(),
            Some(MessageId(42))
        );
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("-3").is_err());
        assert!(parse_cursor("0").is_err());
    }

    #[test]
    fn matches_are_found_ignoring_case_and_merged() {
        assert_eq!(
            render(&snippet("Hello world, hello!", &words("hello"))),
            "[Hello] world, [hello]!"
        );
        assert_eq!(
            render(&snippet("안녕하세요", &words("안녕"))),
            "[안녕]하세요"
        );
        assert_eq!(render(&snippet("abcdef", &words("bcd cde"))), "a[bcde]f");
        assert_eq!(
            render(&snippet("<b>bold</b>", &words("bold"))),
            "<b>[bold]</b>"
        );
    }

    #[test]
    fn a_character_that_lower_cases_longer_maps_back_to_itself() {
        // 'İ' lower-cases to 'i' and a combining dot: the match still covers the one 'İ'.
        let parts = snippet("xİy", &words("i̇"));
        assert_eq!(render(&parts), "x[İ]y");
    }

    #[test]
    fn a_long_text_is_cut_around_its_first_match() {
        let text = format!("{}needle{}", "a".repeat(300), "b".repeat(300));
        let parts = snippet(&text, &words("needle"));
        let shown = render(&parts);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("[needle]"));
        assert_eq!(shown.chars().count(), SNIPPET_CHARS + 2 + 2);
    }
}
