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
  // Muting and Web Push
  'mute.mute': 'Mute room',
  'mute.unmute': 'Unmute room',
  'mute.muted': 'Muted',
  'mute.failed': 'Could not change the room’s mute setting. Try again.',
} as const;

/** A key of the dictionaries. */
export type MessageKey = keyof typeof en;

/** A full dictionary: one string per key. */
export type Messages = Record<MessageKey, string>;
