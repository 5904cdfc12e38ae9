//! Reconnect delays: exponential growth with jitter, so that a server restart is not met by
//! every client at the same instant (the thundering herd), and a long outage costs one
//! attempt every `maxMs` at most.

/** How reconnect delays grow. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Share of the delay that is random, 0 (none) to 1 ("full jitter"). */
  jitter: number;
}

/** 0.25–0.5 s for the first retry, doubling up to 15 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.5 };

/**
 * The delay before retry number `attempt` (0 for the first retry after a drop): the capped
 * exponential `initialMs * factor^attempt`, of which the `jitter` share is drawn uniformly.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * options.factor ** Math.max(0, attempt));
  return Math.round(ceiling * (1 - options.jitter + options.jitter * random()));
}
