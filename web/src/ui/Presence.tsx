//! Presence on screen: a dot on an avatar (`PresenceDot`, named `Online`, `Away` or `Offline`)
//! and a line of text (`PresenceText`: `Online`, `Away`, `Last seen 5 minutes ago`). Both watch
//! the user through `usePresence` while mounted, so any list can drop them in.
import { usePresence, type UserPresence } from '@sotong/react';
import { useEffect, useState } from 'react';
import { useT, type Translator } from '../i18n';

/** `Online`, `Away`, `Offline` in the current language. */
function stateLabel(presence: UserPresence, t: Translator['t']): string {
  return presence.state === 'online' ? t('presence.online') : presence.state === 'away' ? t('presence.away') : t('presence.offline');
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** `5 minutes ago`, `just now`, in `locale` (`Intl.RelativeTimeFormat`). */
export function relativeSince(at: string, now: number, locale: string): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (seconds >= size) return format.format(-Math.floor(seconds / size), unit);
  }
  return format.format(0, 'second');
}

/** Re-renders every minute, so that "5 minutes ago" stays true. */
function useMinute(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 60_000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Props of `PresenceDot` and `PresenceText`. */
export interface PresenceProps {
  userId: number;
}

/** A dot for an avatar's corner, named after the state; nothing until the server answered. */
export function PresenceDot({ userId }: PresenceProps) {
  const presence = usePresence(userId);
  const { t } = useT();
  if (!presence) return null;
  const label = stateLabel(presence, t);
  return <span className={`presence-dot presence-${presence.state}`} role="img" aria-label={label} title={label} />;
}

/** `Online`, `Away`, or `Last seen …` (`Offline` when never seen or hidden). */
export function PresenceText({ userId }: PresenceProps) {
  const presence = usePresence(userId);
  const { t, locale } = useT();
  const now = useMinute();
  if (!presence) return null;
  const text =
    presence.state === 'offline' && presence.lastSeenAt
      ? t('presence.lastSeen', { when: relativeSince(presence.lastSeenAt, now, locale) })
      : stateLabel(presence, t);
  return <span className={`presence-text presence-${presence.state}`}>{text}</span>;
}
