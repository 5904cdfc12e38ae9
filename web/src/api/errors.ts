//! What the app says when something fails: the one place that turns an error (an `ApiError`
//! with the contract's `{error, message}` code, a network failure, anything else) into the
//! wording a person reads. The server's own `message` is for developers and logs; it is never
//! shown as is, because its wording is terse, English only, and changes with the server. Codes the app does
//! not know yet fall back to a sentence chosen by what the person was doing.
import { MessageActionError, SotongHttpError } from '@sotong/react';
import { t } from '../i18n';
import { ApiError } from './http';

/** What the person was doing when the error came: the same code reads differently per action. */
export type Action = 'login' | 'register' | 'openDirect' | 'createGroup' | 'openRoom' | 'send' | 'edit' | 'delete' | 'react' | 'upload' | 'other';

/** Details an action can add to its wording (the username that was not found, ...). */
export interface ErrorDetails {
  /** The usernames the action named (a direct message's partner, a group's missing members). */
  usernames?: readonly string[];
}

/** The sentence for an action when nothing more precise is known. */
const fallback = (action: Action): string => t(`error.fallback.${action}`);

/** `“alice”`, `“alice” or “bob”`, `“alice”, “bob” or “carol”`. */
function quoteNames(names: readonly string[]): string {
  const quoted = names.map((name) => `“${name}”`);
  if (quoted.length <= 1) return quoted.join('');
  return t('error.namesOr', { names: quoted.slice(0, -1).join(', '), last: quoted.at(-1) ?? '' });
}

function waitFor(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 1) return t('error.wait.moment');
  if (seconds < 90) return t('error.wait.seconds', { count: Math.ceil(seconds) });
  return t('error.wait.minutes', { count: Math.ceil(seconds / 60) });
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
      return t('error.wrongCredentials');
    case 'unauthorized':
    case 'token_expired':
      return action === 'login' ? t('error.wrongCredentials') : t('error.sessionEnded');
    case 'registration_closed':
      return t('error.registrationClosed');
    case 'rate_limited':
      if (action === 'edit' || action === 'delete' || action === 'react') return t('error.rate.changes');
      return action === 'send' ? t('error.rate.send') : t('error.rate.other', { wait: waitFor(retryAfterSeconds) });
    case 'conflict':
    case 'taken':
      return action === 'register' ? t('error.taken') : t('error.exists');
    case 'invalid':
      switch (action) {
        case 'register':
          return t('error.invalid.register');
        case 'login':
          return t('error.wrongCredentials');
        case 'openDirect':
          return t('error.invalid.openDirect');
        case 'createGroup':
          return t('error.invalid.createGroup');
        case 'send':
          return t('error.invalid.send');
        case 'edit':
          return t('error.invalid.edit');
        case 'upload':
          return t('error.upload.invalid');
        default:
          return t('error.invalid.other');
      }
    case 'invalid_emoji':
      return t('error.invalidEmoji');
    case 'reply_not_found':
    case 'reply_other_room':
      return t('error.replyGone');
    case 'mention_not_member':
      return t('error.mentionNotMember');
    case 'invalid_attachment':
      return t('error.invalidAttachment');
    case 'type_mismatch':
      return t('error.upload.typeMismatch');
    case 'bad_image':
      return t('error.upload.badImage');
    case 'image_too_large':
      return t('error.upload.imageTooLarge');
    case 'too_large':
      if (action === 'upload') return t('error.upload.tooLarge');
      if (action === 'react') return t('error.tooLarge.react');
      return action === 'createGroup' ? t('error.tooLarge.group') : action === 'send' || action === 'edit' ? t('error.tooLarge.message') : t('error.tooLarge.other');
    case 'forbidden':
      if (action === 'register') return describeCode('registration_closed', action);
      return action === 'openRoom' || action === 'send' || action === 'upload' || action === 'edit' || action === 'delete' || action === 'react' ? t('error.notMember') : t('error.forbidden');
    case 'not_found':
      if (action === 'openDirect' || action === 'createGroup') {
        return names.length > 0 ? t('error.noUser', { names: quoteNames(names) }) : t('error.someUsersMissing');
      }
      if (action === 'openRoom') return t('error.roomNotFound');
      if (action === 'edit' || action === 'delete' || action === 'react') return t('error.messageGone');
      return t('error.gone');
    case 'not_author':
      return action === 'delete' ? t('error.notAuthor.delete') : t('error.notAuthor.edit');
    case 'deleted':
      if (action === 'react') return t('error.deleted.react');
      if (action === 'send') return t('error.deleted.send');
      return t('error.deleted.edit');
    case 'edit_window_closed':
      return t('error.editWindowClosed');
    case 'unavailable':
      return t('error.unavailable');
    default:
      if (status === 401 && action === 'login') return t('error.wrongCredentials');
      if (status === 409 && action === 'register') return describeCode('conflict', action);
      if (status === 429) return describeCode('rate_limited', action, status, details, retryAfterSeconds);
      if (status !== undefined && status >= 500) return t('error.unavailable');
      return fallback(action);
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
  // An upload or a download refused (the package's own HTTP error, with the contract's code).
  if (error instanceof SotongHttpError) return describeCode(error.code, action, error.status, details);
  // `fetch` rejects with a TypeError when the network fails.
  if (error instanceof TypeError) return t('error.offline');
  return fallback(action);
}
