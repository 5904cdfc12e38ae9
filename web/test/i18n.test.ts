import { afterEach, describe, expect, it } from 'vitest';
import { detectLocale, getLocale, setLocale, t, tn } from '../src/i18n';
import { en } from '../src/i18n/en';
import { ko } from '../src/i18n/ko';

describe('i18n', () => {
  afterEach(() => setLocale('en'));

  it('picks the first browser language sotong speaks', () => {
    expect(detectLocale(['ko-KR', 'en-US'])).toBe('ko');
    expect(detectLocale(['fr-FR', 'en-GB'])).toBe('en');
    expect(detectLocale(['fr-FR'])).toBe('en');
    expect(detectLocale([])).toBe('en');
  });

  it('translates every key into Korean', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(ko[key], key).toBeTruthy();
    }
    expect(Object.keys(ko).sort()).toEqual(Object.keys(en).sort());
  });

  it('switches, remembers the choice and sets the document language', () => {
    expect(t('connection.connected')).toBe('Connected');
    setLocale('ko');
    expect(getLocale()).toBe('ko');
    expect(t('connection.connected')).toBe('연결됨');
    expect(localStorage.getItem('sotong.locale')).toBe('ko');
    expect(document.documentElement.lang).toBe('ko');
  });

  it('fills placeholders and picks plural forms', () => {
    expect(tn('rooms.unread', 1)).toBe('1 unread message');
    expect(tn('rooms.unread', 3)).toBe('3 unread messages');
    expect(t('rooms.unread.other', { count: 'many' })).toBe('many unread messages');
    // A placeholder without a value stays visible rather than vanishing.
    expect(t('rooms.unread.other')).toBe('{count} unread messages');
    setLocale('ko');
    expect(tn('rooms.unread', 1)).toBe('읽지 않은 메시지 1개');
  });
});
