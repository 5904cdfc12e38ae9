import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF } from '../src';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap', () => {
    const top = (attempt: number) => backoffDelay(attempt, DEFAULT_BACKOFF, () => 1);
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(top)).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it('draws the jitter share at random', () => {
    const low = backoffDelay(3, DEFAULT_BACKOFF, () => 0);
    const high = backoffDelay(3, DEFAULT_BACKOFF, () => 1);
    expect(low).toBe(2000);
    expect(high).toBe(4000);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
    for (const d of seen) {
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});
