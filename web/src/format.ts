//! Dates and times as the chat shows them, in the viewer's locale and time zone.

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** `14:05`. */
export function timeOf(iso: string): string {
  return TIME.format(new Date(iso));
}

/** A day separator: `Today`, `Yesterday`, or a date. */
export function dayLabel(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (sameDay(date, now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return 'Yesterday';
  return date.toLocaleDateString(undefined, {
    weekday: 'long',
    month: 'long',
    day: 'numeric',
    ...(date.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }),
  });
}

/** The local calendar day of a timestamp, to group messages by. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** A room list timestamp: the time today, `Yesterday`, or a short date. */
export function shortWhen(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (sameDay(date, now)) return timeOf(iso);
  const label = dayLabel(iso, now);
  if (label === 'Yesterday') return label;
  return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A full date and time (`Dec 7, 2026, 14:05`), for a title that says exactly when. */
export function fullWhen(iso: string): string {
  return FULL.format(new Date(iso));
}
