//! The interface language: English or Korean, chosen from the browser's languages on first visit
//! and switchable (the choice is kept in `localStorage`). A small external store rather than a
//! context, so that code outside React (desktop notifications, error descriptions) translates
//! with the same `t` as components, and a switch re-renders every `useT` user at once.
import { useSyncExternalStore } from 'react';
import { en, type MessageKey, type Messages } from './en';
import { ko } from './ko';

export type { MessageKey, Messages } from './en';

/** A language the interface is translated into. */
export type Locale = 'en' | 'ko';

/** The languages offered by the switcher, in its order. */
export const LOCALES: readonly Locale[] = ['en', 'ko'];

const DICTIONARIES: Record<Locale, Messages> = { en, ko };
const STORAGE_KEY = 'sotong.locale';

/** Values filled into a string's `{name}` placeholders. */
export type Vars = Record<string, string | number>;

/** The first of the browser's preferred languages that sotong speaks; English otherwise. */
export function detectLocale(languages: readonly string[]): Locale {
  for (const language of languages) {
    const base = language.toLowerCase().split('-')[0];
    if (base === 'ko' || base === 'en') return base;
  }
  return 'en';
}

function initialLocale(): Locale {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'ko') return saved;
  } catch {
    // Storage may be blocked; fall back to the browser's languages.
  }
  if (typeof navigator === 'undefined') return 'en';
  return detectLocale(navigator.languages?.length ? navigator.languages : [navigator.language]);
}

let current: Locale = initialLocale();
const listeners = new Set<() => void>();
applyDocumentLanguage(current);

function applyDocumentLanguage(locale: Locale) {
  if (typeof document !== 'undefined') document.documentElement.lang = locale;
}

/** The language in use now. */
export function getLocale(): Locale {
  return current;
}

/** Switches the language, remembers the choice, and re-renders every `useT` user. */
export function setLocale(locale: Locale) {
  if (locale === current) return;
  current = locale;
  try {
    localStorage.setItem(STORAGE_KEY, locale);
  } catch {
    // Not remembered, but still switched for this page.
  }
  applyDocumentLanguage(locale);
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function fill(template: string, vars?: Vars): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** The string for `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key: MessageKey, vars?: Vars): string {
  return fill(DICTIONARIES[current][key], vars);
}

/**
 * A plural: picks `base.one` or `base.other` by the current language's plural rules for
 * `count`, and fills `{count}` (plus any other `vars`).
 */
export function tn(base: string, count: number, vars?: Vars): string {
  const rule = new Intl.PluralRules(current).select(count);
  const key = (`${base}.${rule}` in en ? `${base}.${rule}` : `${base}.other`) as MessageKey;
  return t(key, { count, ...vars });
}

/**
 * A string around one slot filled with something that is not text (a name in a styled
 * element): `[before, after]` the slot `{slot}`, the other placeholders filled from `vars`.
 * The languages put the slot in different places (`Replying to {name}`, `{name}님에게 답장`).
 */
export function tParts(key: MessageKey, slot: string, vars?: Vars): [string, string] {
  const text = t(key, vars);
  const at = text.indexOf(`{${slot}}`);
  if (at < 0) return [text, ''];
  return [text.slice(0, at), text.slice(at + slot.length + 2)];
}

/**
 * The locale `Intl` formats dates and times with: the browser's own English variant (so an
 * English reader keeps their usual date order), or Korean.
 */
export function intlLocale(): string {
  if (current === 'ko') return 'ko-KR';
  if (typeof navigator !== 'undefined') {
    const english = (navigator.languages ?? [navigator.language]).find((language) => language.toLowerCase().startsWith('en'));
    if (english) return english;
  }
  return 'en';
}

/** What `useT` gives a component: the translators and the language, re-rendered on a switch. */
export interface Translator {
  t: typeof t;
  tn: typeof tn;
  tParts: typeof tParts;
  locale: Locale;
  setLocale: typeof setLocale;
}

/** Translation in a component; re-renders when the language is switched. */
export function useT(): Translator {
  const locale = useSyncExternalStore(subscribe, getLocale, getLocale);
  return { t, tn, tParts, locale, setLocale };
}
