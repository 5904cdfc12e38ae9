import { afterEach, describe, expect, it } from 'vitest';
import { dayLabel, shortWhen, timeOf } from '../src/format';
import { detectLocale, getLocale, setLocale, t, tn, tParts } from '../src/i18n';
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

  it('splits a string around a slot wherever the language puts it', () => {
    expect(tParts('composer.replyingTo', 'name')).toEqual(['Replying to ', '']);
    setLocale('ko');
    expect(tParts('composer.replyingTo', 'name')).toEqual(['', '님에게 답장']);
    expect(tParts('log.sent', 'name')).toEqual(['전송됨', '']);
  });

  it('writes dates and times in the interface language', () => {
    const now = new Date(2026, 11, 7, 15, 0);
    const today = new Date(2026, 11, 7, 14, 5).toISOString();
    const yesterday = new Date(2026, 11, 6, 9, 30).toISOString();
    const earlier = new Date(2026, 10, 20, 9, 30).toISOString();
    expect(dayLabel(today, now)).toBe('Today');
    expect(dayLabel(yesterday, now)).toBe('Yesterday');
    expect(shortWhen(yesterday, now)).toBe('Yesterday');
    expect(timeOf(today)).toMatch(/^(14:05|02:05\sPM)$/);
    setLocale('ko');
    expect(dayLabel(today, now)).toBe('오늘');
    expect(dayLabel(yesterday, now)).toBe('어제');
    expect(dayLabel(earlier, now)).toBe('11월 20일 금요일');
    expect(shortWhen(earlier, now)).toBe('11월 20일');
    // 오전/오후, never AM/PM, and no leading zero on the hour.
    expect(timeOf(today)).toBe('오후 2:05');
    expect(timeOf(yesterday)).toBe('오전 9:30');
  });
});
