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
  // Members, rename, profile, password and log out everywhere.
  'members.open': 'Members',
  'members.title': 'Members',
  'members.list': 'Members',
  'members.you': 'You',
  'members.presence': 'Presence',
  'members.rename': 'Rename',
  'members.groupName': 'Group name',
  'members.save': 'Save',
  'members.cancel': 'Cancel',
  'members.add': 'Add members',
  'members.addField': 'Usernames to add',
  'members.addHint': 'Usernames separated by commas.',
  'members.addSubmit': 'Add',
  'members.leave': 'Leave group',
  'members.leaveConfirmTitle': 'Leave group?',
  'members.leaveConfirmText': 'You will no longer see “{name}” or its messages unless someone adds you again.',
  'members.leaveSubmit': 'Leave',
  'members.count.one': '{count} member',
  'members.count.other': '{count} members',
  'members.error.invalidName': 'A group name has 1–100 visible characters.',
  'members.error.notFound': 'Some of these usernames do not exist. Check the spelling.',
  'members.error.forbidden': 'You are no longer a member of this group.',
  'members.error.rateLimited': 'Too many changes. Please try again later.',
  'profile.open': 'Profile',
  'profile.title': 'Profile',
  'profile.displayName': 'Display name',
  'profile.saveName': 'Save name',
  'profile.nameSaved': 'Display name saved.',
  'profile.passwordHeading': 'Change password',
  'profile.currentPassword': 'Current password',
  'profile.newPassword': 'New password',
  'profile.changePassword': 'Change password',
  'profile.passwordChanged': 'Password changed. Your other sessions were logged out.',
  'profile.sessionsHeading': 'Sessions',
  'profile.logoutEverywhereHint': 'Logs out every browser and device signed in to this account, this one included.',
  'profile.logoutEverywhere': 'Log out everywhere',
  'profile.loggedOutEverywhere': 'You were logged out everywhere. Please log in again.',
  'profile.error.wrongPassword': 'The current password is wrong.',
  'profile.error.noPassword': 'This account signs in through another application and has no password here.',
  'profile.error.shortPassword': 'A password has at least 8 characters.',
  'profile.error.invalidName': 'A display name has 1–64 visible characters.',
  'profile.error.rateLimited': 'Too many attempts. Please try again later.',
  'profile.error.other': 'Something went wrong. Please try again.',
} as const;

/** A key of the dictionaries. */
export type MessageKey = keyof typeof en;

/** A full dictionary: one string per key. */
export type Messages = Record<MessageKey, string>;
