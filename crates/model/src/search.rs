//! The answer of a message search (`GET /api/search`): each hit names its room, carries the
//! whole message, and a snippet of its text cut into plain and matching parts.
//!
//! The snippet is data, not markup: a client renders each part as text (a matching part
//! emphasised), so a message holding `<b>` or `<script>` shows as the characters it is and
//! no client has to count UTF-16 units against byte offsets.

use crate::ids::RoomId;
use crate::objects::{Message, RoomKind};
use serde::{Deserialize, Serialize};

/// A room as a search hit names it: enough to show where the message is and to open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    /// The room's id.
    pub id: RoomId,
    /// Direct or group.
    pub kind: RoomKind,
    /// The group's name, or for a direct room the other member's display name as the viewer
    /// sees it (as in a full room).
    pub name: String,
}

/// One run of a snippet's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    /// The characters of this run, as written in the message (`…` where the snippet cuts a
    /// long text).
    pub text: String,
    /// Whether this run is a match of the query (to highlight).
    #[serde(rename = "match")]
    pub matched: bool,
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The room the message is in.
    pub room: RoomSummary,
    /// The message in its current state (never a tombstone).
    pub message: Message,
    /// The text around the first match, in runs; joined, the runs give the text (cut with `…`
    /// when it is long).
    pub snippet: Vec<SnippetPart>,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResults {
    /// The hits of this page.
    pub results: Vec<SearchHit>,
    /// Where the next page starts (`before=` of the next request), or `None` when the search
    /// has looked through everything. Opaque to clients.
    pub next: Option<String>,
}
