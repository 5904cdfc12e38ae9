//! What the app says when something fails: the one place that turns an error (an `ApiError`
//! with the contract's `{error, message}` code, a network failure, anything else) into the
//! wording a person reads. The server's own `message` is for developers and logs; it is never
//! shown as is, because its wording is terse and changes with the server. Codes the app does
//! not know yet fall back to a sentence chosen by what the person was doing.
import { MessageActionError } from '@sotong/react';
import { ApiError } from './http';

/** What the person was doing when the error came: the same code reads differently per action. */
export type Action = 'login' | 'register' | 'openDirect' | 'createGroup' | 'openRoom' | 'send' | 'edit' | 'delete' | 'react' | 'other';

/** Details an action can add to its wording (the username that was not found, ...). */
export interface ErrorDetails {
  /** The usernames the action named (a direct message's partner, a group's missing members). */
  usernames?: readonly string[];
}

const FALLBACK: Record<Action, string> = {
  login: 'Could not log in. Please try again.',
  register: 'Could not create the account. Please try again.',
  openDirect: 'Could not start the conversation. Please try again.',
  createGroup: 'Could not create the group. Please try again.',
  openRoom: 'Could not open this conversation. Please try again.',
  send: 'Could not send the message.',
  edit: 'Could not edit the message. Please try again.',
  delete: 'Could not delete the message. Please try again.',
  react: 'Could not add the reaction. Please try again.',
  other: 'Something went wrong. Please try again.',
};

const OFFLINE = 'Cannot reach the server. Check your connection and try again.';

/** `“alice”`, `“alice” or “bob”`, `“alice”, “bob” or “carol”`. */
function quoteNames(names: readonly string[]): string {
  const quoted = names.map((name) => `“${name}”`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`;
}

function waitFor(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 1) return 'Please wait a moment and try again.';
  if (seconds < 90) return `Please try again in ${String(Math.ceil(seconds))} seconds.`;
  return `Please try again in ${String(Math.ceil(seconds / 60))} minutes.`;
}

/**
 * The wording for an error code of the contract (HTTP `{"error": code}` or a STOMP error
 * event's `code`), with the status when there is one (older servers answer a wrong
 * password with a bare `401 unauthorized`, which at login means the same as
 * `invalid_credentials`).
 */
export function describeCode(code: string, action: Action, status?: number, details: ErrorDetails = {}, retryAfterSeconds?: number): string {
  const names = details.usernames ?? [];
  switch (code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'unauthorized':
    case 'token_expired':
      return action === 'login' ? 'Wrong username or password.' : 'Your session has ended. Please log in again.';
    case 'registration_closed':
      return 'Sign-up is closed on this server. Ask its administrator for an account.';
    case 'rate_limited':
      if (action === 'edit' || action === 'delete' || action === 'react') return 'You are changing messages too fast. Wait a moment, then try again.';
      return action === 'send' ? 'You are sending too fast. Wait a moment, then retry.' : `Too many attempts. ${waitFor(retryAfterSeconds)}`;
    case 'conflict':
    case 'taken':
      return action === 'register' ? 'That username is already taken. Please pick another one.' : 'That already exists.';
    case 'invalid':
      switch (action) {
        case 'register':
          return 'Check your details: a username has 3–32 letters, digits, _ . or -, a password at least 8 characters, a display name at most 64.';
        case 'login':
          return 'Wrong username or password.';
        case 'openDirect':
          return 'Pick someone other than yourself.';
        case 'createGroup':
          return 'Check the group: a name has 1–100 characters, and members are usernames separated by commas.';
        case 'send':
          return 'This message cannot be sent.';
        case 'edit':
          return 'A message cannot be empty.';
        default:
          return 'That did not look right. Please check and try again.';
      }
    case 'invalid_emoji':
      return 'That reaction is not an emoji.';
    case 'reply_not_found':
    case 'reply_other_room':
      return 'The message you replied to is not in this conversation any more.';
    case 'mention_not_member':
      return 'You mentioned someone who is not in this conversation.';
    case 'invalid_attachment':
      return 'An attached file is no longer available. Attach it again.';
    case 'too_large':
      if (action === 'react') return 'This message has too many different reactions.';
      return action === 'createGroup' ? 'That group has too many members.' : action === 'send' || action === 'edit' ? 'This message is too long.' : 'That is too large.';
    case 'forbidden':
      if (action === 'register') return describeCode('registration_closed', action);
      return action === 'openRoom' || action === 'send' || action === 'edit' || action === 'delete' || action === 'react' ? 'You are not a member of this conversation.' : 'You are not allowed to do that.';
    case 'not_found':
      if (action === 'openDirect' || action === 'createGroup') {
        return names.length > 0 ? `No user named ${quoteNames(names)}.` : 'Some of these usernames do not exist. Check the spelling.';
      }
      if (action === 'openRoom') return 'This conversation does not exist.';
      if (action === 'edit' || action === 'delete' || action === 'react') return 'This message no longer exists.';
      return 'That no longer exists.';
    case 'not_author':
      return action === 'delete' ? 'You can only delete your own messages.' : 'You can only edit your own messages.';
    case 'deleted':
      if (action === 'react') return 'This message was deleted, so it can no longer get reactions.';
      if (action === 'send') return 'The message you replied to was deleted.';
      return 'This message was deleted, so it can no longer be edited.';
    case 'edit_window_closed':
      return 'This message is too old to edit. You can still delete it.';
    case 'unavailable':
      return 'The server is having trouble right now. Please try again in a moment.';
    default:
      if (status === 401 && action === 'login') return 'Wrong username or password.';
      if (status === 409 && action === 'register') return describeCode('conflict', action);
      if (status === 429) return describeCode('rate_limited', action, status, details, retryAfterSeconds);
      if (status !== undefined && status >= 500) return 'The server is having trouble right now. Please try again in a moment.';
      return FALLBACK[action];
  }
}

/**
 * The wording for any error thrown by an action: an `ApiError` or a `MessageActionError` by
 * its code (see `describeCode`), a failed `fetch` as "cannot reach the server", anything else by the
 * action's fallback.
 */
export function describeError(error: unknown, action: Action, details: ErrorDetails = {}): string {
  if (error instanceof ApiError) return describeCode(error.code, action, error.status, details, error.retryAfterSeconds);
  // An edit or delete the server refused over STOMP: the contract's code, no HTTP status.
  if (error instanceof MessageActionError) return describeCode(error.code, action, undefined, details);
  // `fetch` rejects with a TypeError when the network fails.
  if (error instanceof TypeError) return OFFLINE;
  return FALLBACK[action];
}
