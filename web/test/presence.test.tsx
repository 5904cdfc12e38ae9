//! The presence line's wording: "Last seen 5 minutes ago" through `Intl.RelativeTimeFormat`, in
//! the interface's language.
import { describe, expect, it } from 'vitest';
import { relativeSince } from '../src/ui/Presence';

describe('relativeSince', () => {
  const at = '2024-05-01T12:00:00.000Z';
  const later = (seconds: number) => Date.parse(at) + seconds * 1000;

  it('says how long ago in the largest whole unit', () => {
    expect(relativeSince(at, later(5), 'en')).toBe('now');
    expect(relativeSince(at, later(5 * 60 + 20), 'en')).toBe('5 minutes ago');
    expect(relativeSince(at, later(3600), 'en')).toBe('1 hour ago');
    expect(relativeSince(at, later(26 * 3600), 'en')).toBe('yesterday');
  });

  it('speaks Korean too, and never the future', () => {
    expect(relativeSince(at, later(5 * 60), 'ko')).toBe('5분 전');
    expect(relativeSince(at, later(-30), 'en')).toBe('now');
  });
});
