//! Presence of the users the mounted components ask about (`usePresence`), over one
//! `/user/queue/presence` subscription. Watched users are reference-counted like rooms: the
//! watch list sent to the server is the union of what is held now, sent once per tick of
//! changes and again after every reconnect (watch lists are per connection).
import type { Connection } from './connection';
import type { IncomingFrame } from './registry';
import { RefCounts } from './refCounts';

/** The presence destination (sotong). */
export const PRESENCE_DESTINATION = '/user/queue/presence';

/** `online`, `away` or `offline`. */
export type PresenceState = 'online' | 'away' | 'offline';

/** One user's presence as the server last said; `lastSeenAt` (RFC 3339) for `offline` only. */
export interface UserPresence {
  userId: number;
  state: PresenceState;
  lastSeenAt: string | null;
}

/** Presence of watched users, outside React. */
export class PresenceStore {
  private readonly held = new RefCounts<number>();
  private readonly states = new Map<number, UserPresence>();
  private readonly listeners = new Set<() => void>();
  private releaseSubscription: (() => void) | undefined;
  private pending = false;
  private activity: 'active' | 'away' = 'active';

  constructor(private readonly connection: Connection) {
    connection.onConnected(() => {
      this.sendList();
      if (this.activity === 'away') this.sendActivity();
    });
  }

  /** Watches `userId` until the returned function is called (reference-counted). */
  watch(userId: number): () => void {
    const release = this.held.acquire(userId, {
      onFirst: () => this.listChanged(),
      onLast: () => {
        this.states.delete(userId);
        this.listChanged();
      },
    });
    if (!this.releaseSubscription) {
      this.releaseSubscription = this.connection.subscribe(PRESENCE_DESTINATION, (frame) => this.onFrame(frame));
    }
    return release;
  }

  /** The user's presence, once the server said it. */
  get(userId: number): UserPresence | undefined {
    return this.states.get(userId);
  }

  /** Re-renders on every change. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /**
   * Reports this connection's activity: `away` when nobody uses the page (hidden, idle),
   * `active` again when someone does. Kept and sent again after a reconnect.
   */
  report(activity: 'active' | 'away'): void {
    if (activity === this.activity) return;
    this.activity = activity;
    this.sendActivity();
  }

  private sendActivity(): void {
    this.connection.publish('/app/presence', JSON.stringify({ state: this.activity }));
  }

  private listChanged(): void {
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => {
      this.pending = false;
      this.sendList();
    });
  }

  private sendList(): void {
    if (!this.releaseSubscription) return;
    this.connection.publish('/app/presence/watch', JSON.stringify({ userIds: [...this.held.keys()] }));
  }

  private onFrame(frame: IncomingFrame): void {
    let body: { type?: string; users?: UserPresence[] };
    try {
      body = JSON.parse(frame.body) as typeof body;
    } catch {
      return;
    }
    if (body.type !== 'presence' || !Array.isArray(body.users)) return;
    for (const user of body.users) {
      if (this.held.has(user.userId)) this.states.set(user.userId, user);
    }
    for (const listener of [...this.listeners]) listener();
  }
}
