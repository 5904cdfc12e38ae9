//! The login session: token and user, kept in localStorage so a reload stays logged in.
import type { User } from '../api/types';

/** A logged-in session. */
export interface Session {
  token: string;
  user: User;
}

const KEY = 'sotong.session';

/** The saved session, if any. */
export function loadSession(): Session | null {
  try {
    const raw = window.localStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return typeof session.token === 'string' && session.user ? session : null;
  } catch {
    return null;
  }
}

/** Saves (or with null, forgets) the session. */
export function saveSession(session: Session | null): void {
  if (session) window.localStorage.setItem(KEY, JSON.stringify(session));
  else window.localStorage.removeItem(KEY);
}
