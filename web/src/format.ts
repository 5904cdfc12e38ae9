//! Dates and times as the chat shows them, in the interface language (`Intl` with its locale)
//! and the viewer's time zone.
import { intlLocale, t } from './i18n';

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per locale and style, kept: building one is slow and a log formats hundreds. */
function formatter(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const locale = intlLocale();
  const key = `${locale}|${JSON.stringify(options)}`;
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, format);
  }
  return format;
}

/**
 * `date` formatted with `options`. Korean writes the time of day as 오전/오후 (`오후 2:05`), but
 * recent CLDR data abbreviates it to `AM`/`PM`: those are put back into Korean here.
 */
function format(options: Intl.DateTimeFormatOptions, date: Date): string {
  const fmt = formatter(options);
  if (!fmt.resolvedOptions().locale.startsWith('ko')) return fmt.format(date);
  return fmt
    .formatToParts(date)
    .map((part) => (part.type === 'dayPeriod' ? (date.getHours() < 12 ? '오전' : '오후') : part.value))
    .join('');
}

/** `14:05` (`오후 2:05` in Korean, where the hour has no leading zero). */
export function timeOf(iso: string): string {
  const korean = intlLocale() === 'ko-KR';
  return format({ hour: korean ? 'numeric' : '2-digit', minute: '2-digit' }, new Date(iso));
}

/** A day separator: `Today`, `Yesterday`, or a date. */
export function dayLabel(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (sameDay(date, now)) return t('time.today');
  if (isYesterday(date, now)) return t('time.yesterday');
  return format(
    {
      weekday: 'long',
      month: 'long',
      day: 'numeric',
      ...(date.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }),
    },
    date,
  );
}

function isYesterday(date: Date, now: Date): boolean {
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  return sameDay(date, yesterday);
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
  if (isYesterday(date, now)) return t('time.yesterday');
  return format({ month: 'short', day: 'numeric' }, date);
}

/** A full date and time (`Dec 7, 2026, 14:05`), for a title that says exactly when. */
export function fullWhen(iso: string): string {
  return format({ dateStyle: 'medium', timeStyle: 'short' }, new Date(iso));
}
