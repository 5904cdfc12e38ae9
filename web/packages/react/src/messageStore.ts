//! The message store: one bucket per room, outside React, read through
//! `useSyncExternalStore`. Messages are keyed by `seq`, so history pages fetched over HTTP,
//! live events, `since-seq` replays and notification copies merge without duplicates, in any
//! order. Optimistic sends live beside them, keyed by `client-msg-id`, until the RECEIPT or
//! the echo gives them a `seq`.
//!
//! Because `seq` starts at 1 and has no gaps, the store knows exactly what it lacks:
//! `hasOlder` is "the lowest seq held is above 1", and `sinceSeq` (the `since-seq` of the
//! next SUBSCRIBE) is the top of the contiguous run starting at the lowest seq held, so a
//! replay also fills any hole left by a drop.
//!
//! Listeners are notified once per microtask per room, whatever the number of changes, so a
//! burst of a thousand frames in one tick renders once.
import type { Message, User } from './types';

/** Where an own message is on its way to the server. */
export type DeliveryState = 'pending' | 'sent' | 'failed';

/** A message as the chat view shows it. */
export interface ChatMessage {
  /** Stable React key: `c<client-msg-id>` when the message has one (pending or stored), else `s<seq>`. */
  key: string;
  roomId: number;
  seq: number | null;
  id: number | null;
  sender: User;
  text: string;
  sentAt: string;
  clientMsgId: string | null;
  state: DeliveryState;
  error?: string;
}

/** Everything the chat view of one room renders. */
export interface RoomView {
  /** Stored messages ascending by seq, then pending sends in the order they were made. */
  messages: readonly ChatMessage[];
  /** Older messages exist on the server and are not held. */
  hasOlder: boolean;
  loadingOlder: boolean;
  /** Users typing right now (never the viewer). */
  typing: readonly User[];
}

interface PendingSend {
  clientMsgId: string;
  text: string;
  sender: User;
  createdAt: string;
  state: 'pending' | 'failed';
  error?: string;
}

/** How far a `since-seq` replay may reach back before the store drops its stale run instead. */
export const MAX_REPLAY = 500;

class RoomBucket {
  constructor(readonly roomId: number) {}
  readonly bySeq = new Map<number, Message>();
  /** Seqs known from a RECEIPT only; the echo replaces them. */
  readonly fromReceipt = new Set<number>();
  readonly pending = new Map<string, PendingSend>();
  readonly typing = new Map<number, { user: User; timer: ReturnType<typeof setTimeout> }>();
  readonly listeners = new Set<() => void>();
  minSeq = Infinity;
  maxSeq = 0;
  knownLatest = 0;
  noOlder = false;
  loadingOlder = false;
  view: RoomView | null = null;

  contiguousHigh(): number {
    if (this.bySeq.size === 0) return 0;
    let seq = this.minSeq;
    while (this.bySeq.has(seq + 1)) seq++;
    return seq;
  }

  clearMessages(): void {
    this.bySeq.clear();
    this.fromReceipt.clear();
    this.minSeq = Infinity;
    this.maxSeq = 0;
    this.noOlder = false;
  }
}

const EMPTY_VIEW: RoomView = Object.freeze({ messages: [], hasOlder: false, loadingOlder: false, typing: [] });

/** Messages of every room this session has seen. */
export class MessageStore {
  private readonly buckets = new Map<number, RoomBucket>();
  private readonly dirty = new Set<number>();
  private flushQueued = false;
  private readonly rendered = new WeakMap<Message, ChatMessage>();

  /** Listens to one room (shaped for `useSyncExternalStore`). */
  subscribe(roomId: number, listener: () => void): () => void {
    const bucket = this.bucket(roomId);
    bucket.listeners.add(listener);
    return () => bucket.listeners.delete(listener);
  }

  /** The room's current view; the same object until something changes. */
  getSnapshot(roomId: number): RoomView {
    const bucket = this.buckets.get(roomId);
    if (!bucket) return EMPTY_VIEW;
    bucket.view ??= this.buildView(bucket);
    return bucket.view;
  }

  /**
   * Merges messages (history page, live event, replay, notification) by seq.
   * Returns the ones that were not held before, in seq order.
   */
  insert(roomId: number, messages: readonly Message[]): Message[] {
    const bucket = this.bucket(roomId);
    const fresh: Message[] = [];
    for (const message of messages) {
      const held = bucket.bySeq.has(message.seq);
      if (held && !bucket.fromReceipt.has(message.seq)) continue;
      bucket.bySeq.set(message.seq, message);
      bucket.fromReceipt.delete(message.seq);
      if (message.clientMsgId) bucket.pending.delete(message.clientMsgId);
      const typing = bucket.typing.get(message.sender.id);
      if (typing) {
        clearTimeout(typing.timer);
        bucket.typing.delete(message.sender.id);
      }
      bucket.minSeq = Math.min(bucket.minSeq, message.seq);
      bucket.maxSeq = Math.max(bucket.maxSeq, message.seq);
      bucket.knownLatest = Math.max(bucket.knownLatest, message.seq);
      if (!held) fresh.push(message);
    }
    if (fresh.length > 0 || messages.length > 0) this.touch(roomId);
    return fresh.sort((a, b) => a.seq - b.seq);
  }

  /** Records the room's latest seq as the server reported it (rooms snapshot, events). */
  setKnownLatest(roomId: number, seq: number): void {
    const bucket = this.bucket(roomId);
    if (seq <= bucket.knownLatest) return;
    bucket.knownLatest = seq;
    this.touch(roomId);
  }

  /** The room's latest seq as far as this session knows. */
  knownLatest(roomId: number): number {
    return this.buckets.get(roomId)?.knownLatest ?? 0;
  }

  /** Highest seq held, 0 if none. */
  lastSeq(roomId: number): number {
    return this.buckets.get(roomId)?.maxSeq ?? 0;
  }

  /** Lowest seq held, or undefined. */
  firstSeq(roomId: number): number | undefined {
    const bucket = this.buckets.get(roomId);
    return bucket && bucket.bySeq.size > 0 ? bucket.minSeq : undefined;
  }

  /** Number of stored messages held. */
  count(roomId: number): number {
    return this.buckets.get(roomId)?.bySeq.size ?? 0;
  }

  /**
   * The `since-seq` for the next SUBSCRIBE to the room: the top of the contiguous run held
   * (so a replay fills any hole above it), or the latest seq known when nothing is held (the
   * history page below it comes over HTTP). A run more than `MAX_REPLAY` behind is dropped
   * rather than replayed; scrolling up reloads it.
   */
  sinceSeq(roomId: number): number {
    const bucket = this.bucket(roomId);
    if (bucket.bySeq.size === 0) return bucket.knownLatest;
    const high = bucket.contiguousHigh();
    if (bucket.knownLatest - high > MAX_REPLAY) {
      bucket.clearMessages();
      this.touch(roomId);
      return bucket.knownLatest;
    }
    return high;
  }

  /** Where the next older page ends (exclusive), or undefined when nothing older exists. */
  olderCursor(roomId: number): number | undefined {
    const bucket = this.bucket(roomId);
    if (bucket.noOlder) return undefined;
    if (bucket.bySeq.size === 0) return bucket.knownLatest > 0 ? bucket.knownLatest + 1 : undefined;
    return bucket.minSeq > 1 ? bucket.minSeq : undefined;
  }

  /** Marks an older-page load as running or done; `exhausted` when the server had nothing older. */
  setLoadingOlder(roomId: number, loading: boolean, exhausted = false): void {
    const bucket = this.bucket(roomId);
    bucket.loadingOlder = loading;
    if (exhausted) bucket.noOlder = true;
    this.touch(roomId);
  }

  /** Is an older-page load running? */
  isLoadingOlder(roomId: number): boolean {
    return this.buckets.get(roomId)?.loadingOlder ?? false;
  }

  /** Adds an optimistic send. */
  addPending(roomId: number, send: { clientMsgId: string; text: string; sender: User; createdAt: string }): void {
    this.bucket(roomId).pending.set(send.clientMsgId, { ...send, state: 'pending' });
    this.touch(roomId);
  }

  /** The text of a pending or failed send. */
  pendingText(roomId: number, clientMsgId: string): string | undefined {
    return this.buckets.get(roomId)?.pending.get(clientMsgId)?.text;
  }

  /**
   * A RECEIPT confirmed a send: it becomes a stored message at `seq` (unless the echo
   * already put it there). Returns the stored message.
   */
  confirm(roomId: number, clientMsgId: string, ids: { id: number; seq: number }): Message | undefined {
    const bucket = this.bucket(roomId);
    const pending = bucket.pending.get(clientMsgId);
    bucket.pending.delete(clientMsgId);
    const held = bucket.bySeq.get(ids.seq);
    if (held) {
      this.touch(roomId);
      return held;
    }
    if (!pending) return undefined;
    const message: Message = {
      id: ids.id,
      roomId,
      seq: ids.seq,
      sender: pending.sender,
      text: pending.text,
      sentAt: pending.createdAt,
      clientMsgId,
    };
    this.insert(roomId, [message]);
    bucket.fromReceipt.add(ids.seq);
    return message;
  }

  /** The server refused a send. */
  fail(roomId: number, clientMsgId: string, error: string): void {
    const pending = this.buckets.get(roomId)?.pending.get(clientMsgId);
    if (!pending) return;
    pending.state = 'failed';
    pending.error = error;
    this.touch(roomId);
  }

  /** A failed send is being retried. */
  retry(roomId: number, clientMsgId: string): void {
    const pending = this.buckets.get(roomId)?.pending.get(clientMsgId);
    if (!pending) return;
    pending.state = 'pending';
    pending.error = undefined;
    this.touch(roomId);
  }

  /** Shows `user` as typing in the room for `ttlMs`. */
  setTyping(roomId: number, user: User, ttlMs = 4_000): void {
    const bucket = this.bucket(roomId);
    const previous = bucket.typing.get(user.id);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      bucket.typing.delete(user.id);
      this.touch(roomId);
    }, ttlMs);
    bucket.typing.set(user.id, { user, timer });
    this.touch(roomId);
  }

  /** Forgets who is typing in the room (the view closed). */
  clearTyping(roomId: number): void {
    const bucket = this.buckets.get(roomId);
    if (!bucket || bucket.typing.size === 0) return;
    for (const { timer } of bucket.typing.values()) clearTimeout(timer);
    bucket.typing.clear();
    this.touch(roomId);
  }

  private bucket(roomId: number): RoomBucket {
    let bucket = this.buckets.get(roomId);
    if (!bucket) {
      bucket = new RoomBucket(roomId);
      this.buckets.set(roomId, bucket);
    }
    return bucket;
  }

  private touch(roomId: number): void {
    const bucket = this.buckets.get(roomId);
    if (bucket) bucket.view = null;
    this.dirty.add(roomId);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const rooms = [...this.dirty];
      this.dirty.clear();
      for (const id of rooms) {
        for (const listener of [...(this.buckets.get(id)?.listeners ?? [])]) listener();
      }
    });
  }

  private buildView(bucket: RoomBucket): RoomView {
    const stored = [...bucket.bySeq.values()].sort((a, b) => a.seq - b.seq);
    const messages: ChatMessage[] = stored.map((message) => {
      let shown = this.rendered.get(message);
      if (!shown) {
        shown = {
          key: message.clientMsgId ? `c${message.clientMsgId}` : `s${message.seq}`,
          roomId: message.roomId,
          seq: message.seq,
          id: message.id,
          sender: message.sender,
          text: message.text,
          sentAt: message.sentAt,
          clientMsgId: message.clientMsgId,
          state: 'sent',
        };
        this.rendered.set(message, shown);
      }
      return shown;
    });
    for (const pending of bucket.pending.values()) {
      messages.push({
        key: `c${pending.clientMsgId}`,
        roomId: bucket.roomId,
        seq: null,
        id: null,
        sender: pending.sender,
        text: pending.text,
        sentAt: pending.createdAt,
        clientMsgId: pending.clientMsgId,
        state: pending.state,
        error: pending.error,
      });
    }
    const typing = [...bucket.typing.values()].map((t) => t.user);
    const hasOlder = !bucket.noOlder && (bucket.bySeq.size === 0 ? bucket.knownLatest > 0 : bucket.minSeq > 1);
    return { messages, hasOlder, loadingOlder: bucket.loadingOlder, typing };
  }
}
