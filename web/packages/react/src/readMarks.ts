//! Read marks ("seen by"): every member's last read `seq`, per room, for the rooms on screen.
//! Loaded from `GET /api/rooms/{id}/reads` whenever a room's topic is (re)subscribed, kept
//! current by the topic's `read` events (asked for with `receipts: true`) and by messages (a
//! member who sends has read everything before). A mark only moves forward, so an event and a
//! reload may arrive in any order.
import type { User } from './types';

/** What the counts need of a message: its `seq` (`null` while pending: no counts) and sender. */
export interface Readable {
  seq: number | null;
  sender: Pick<User, 'id'>;
}

/** A member's read mark, as `GET /api/rooms/{id}/reads` lists it. */
export interface ReadMark {
  userId: number;
  seq: number;
}

const EMPTY: ReadonlyMap<number, number> = new Map();

/** Read marks by room, then by user id. */
export class ReadMarkStore {
  private readonly rooms = new Map<number, ReadonlyMap<number, number>>();
  private readonly listeners = new Set<() => void>();

  /** Listens to any change (shaped for `useSyncExternalStore`). */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** A room's marks by user id; the same map until one of them moves. */
  get(roomId: number): ReadonlyMap<number, number> {
    return this.rooms.get(roomId) ?? EMPTY;
  }

  /** Takes the server's list: each mark moves forward only, and members not listed (who left) go. */
  setAll(roomId: number, marks: readonly ReadMark[]): void {
    const held = this.get(roomId);
    const next = new Map<number, number>();
    for (const { userId, seq } of marks) next.set(userId, Math.max(seq, held.get(userId) ?? 0));
    this.rooms.set(roomId, next);
    this.emit();
  }

  /** `userId` has read `roomId` up to `seq` (nothing when the mark held is already there). */
  advance(roomId: number, userId: number, seq: number): void {
    const held = this.get(roomId);
    if ((held.get(userId) ?? 0) >= seq) return;
    this.rooms.set(roomId, new Map(held).set(userId, seq));
    this.emit();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * The members who have not read `message`: every member but its sender whose mark is below its
 * `seq` (a member without a mark has read nothing). What a group shows beside a message.
 */
export function unreadBy(message: Readable, members: readonly User[], marks: ReadonlyMap<number, number>): User[] {
  const seq = message.seq;
  if (seq === null) return [];
  return members.filter((m) => m.id !== message.sender.id && (marks.get(m.id) ?? 0) < seq);
}

/** The members other than its sender who have read `message`. */
export function seenBy(message: Readable, members: readonly User[], marks: ReadonlyMap<number, number>): User[] {
  const seq = message.seq;
  if (seq === null) return [];
  return members.filter((m) => m.id !== message.sender.id && (marks.get(m.id) ?? 0) >= seq);
}
