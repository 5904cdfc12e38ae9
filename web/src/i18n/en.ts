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
  // Read receipts: seen by, unread numbers, jump to latest
  'seen.seen': 'Seen',
  'seen.unread.one': '{count} unread',
  'seen.unread.other': '{count} unread',
  'seen.dialog': 'Seen by',
  'seen.read': 'Read',
  'seen.notRead': 'Not read yet',
  'seen.nobody': 'Nobody',
  'seen.jump': 'Jump to latest',
  'seen.newBelow.one': '{count} new message',
  'seen.newBelow.other': '{count} new messages',
} as const;

/** A key of the dictionaries. */
export type MessageKey = keyof typeof en;

/** A full dictionary: one string per key. */
export type Messages = Record<MessageKey, string>;
