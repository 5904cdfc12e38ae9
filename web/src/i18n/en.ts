//! English, the reference dictionary: every key the interface uses is defined here first, and
//! `ko.ts` must translate each of them (the compiler checks it).
//!
//! Keys are grouped by screen (`connection.…`, `search.…`). `{name}` marks a value filled in by
//! `t(key, { name })`. A key with `.one` and `.other` variants is a plural, read with
//! `tn(key, count)`.

/** Every English string of the interface, by key. */
export const en = {
  'locale.name': 'English',
  'locale.switch': 'Language',
  'connection.label': 'Connection status',
  'connection.connected': 'Connected',
  'connection.connecting': 'Reconnecting…',
  'connection.disconnected': 'Offline',
  'rooms.unread.one': '{count} unread message',
  'rooms.unread.other': '{count} unread messages',
  // Message search (the Search messages dialog, Ctrl-K / Cmd-K).
  'search.open': 'Search messages',
  'search.title': 'Search messages',
  'search.input': 'Search',
  'search.placeholder': 'Words in a message, in any chat',
  'search.scope': 'Search in',
  'search.scope.all': 'All chats',
  'search.scope.room': 'This chat ({name})',
  'search.results': 'Search results',
  'search.searching': 'Searching…',
  'search.none': 'No messages found',
  'search.noneRecent': 'No matches in recent messages',
  'search.more': 'More results',
  'search.failed': 'Search failed. Try again.',
} as const;

/** A key of the dictionaries. */
export type MessageKey = keyof typeof en;

/** A full dictionary: one string per key. */
export type Messages = Record<MessageKey, string>;
