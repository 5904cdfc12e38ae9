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
//! Edits and deletes: a message held is replaced by a copy with a higher `rev` (a `changed`
//! event, a replay, a history page, a changes page), never by an older one, so copies may
//! arrive in any order. A change to a message not held is kept aside and applied if that
//! message arrives later (a history page answered before the change was made). `maxRev` is
//! the highest rev seen per room: the `since-rev` of the next SUBSCRIBE. The author's own
//! edit or delete is shown at once (an overlay over the stored message) and dropped again
//! if the server refuses it.
//!
//! Reactions (`react`) work the same way: a `reacted` change is taken by `rev` like an edit,
//! and the user's own reaction shows at once as an overlay until its RECEIPT (which carries
//! the `rev` it took) or its refusal.
//!
//! Listeners are notified once per microtask per room, whatever the number of changes, so a
//! burst of a thousand frames in one tick renders once.
import type { Attachment, Message, Reaction, ReplyPreview, User } from './types';

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
  /** When the text was last edited (RFC 3339), null if never. */
  editedAt: string | null;
  /** The message was deleted: a tombstone, `text` is empty. */
  deleted: boolean;
  /** The message it answers, as the server (or, while pending, this client) saw it. */
  replyTo: ReplyPreview | null;
  /** Reactions, the user's own in flight included. */
  reactions: readonly Reaction[];
  /** Ids of the members the text mentions. */
  mentions: readonly number[];
  attachments: readonly Attachment[];
}

/** What a send may carry besides its text. */
export interface SendExtras {
  /** The message answered (its preview is shown while the send is pending). */
  replyTo?: ReplyPreview;
  /** Uploaded files (`uploadAttachment`) to send with the text. */
  attachments?: Attachment[];
}

/** The user's own reaction, shown before the server confirms it. */
interface PendingReaction {
  actionId: string;
  emoji: string;
  add: boolean;
  userId: number;
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * `reactions` with `userId`'s reaction `emoji` added or taken back (a new array; the input is
 * not changed). Adding one that is there, or taking back one that is not, changes nothing.
 */
export function toggleReaction(reactions: readonly Reaction[], emoji: string, userId: number, add: boolean): Reaction[] {
  const out: Reaction[] = [];
  let found = false;
  for (const r of reactions) {
    if (r.emoji !== emoji) {
      out.push(r);
      continue;
    }
    found = true;
    const has = r.userIds.includes(userId);
    const userIds = add ? (has ? r.userIds : [...r.userIds, userId]) : r.userIds.filter((id) => id !== userId);
    if (userIds.length > 0) out.push({ emoji, count: userIds.length, userIds });
  }
  if (!found && add) out.push({ emoji, count: 1, userIds: [userId] });
  return out;
}

/** An edit or delete of the user's own, shown before the server confirms it. */
interface PendingChange {
  /** The reliable send carrying it. */
  actionId: string;
  text: string;
  deleted: boolean;
  at: string;
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

interface PendingSend extends SendExtras {
  clientMsgId: string;
  text: string;
  sender: User;
  createdAt: string;
  state: 'pending' | 'failed';
  error?: string;
}

/** How far a `since-seq` replay may reach back before the store drops its stale run instead. */
export const MAX_REPLAY = 500;

/** How many changes to messages not held a room keeps aside. */
const MAX_UNHELD_CHANGES = 500;

const revOf = (message: Message): number => message.rev ?? 0;

class RoomBucket {
  constructor(readonly roomId: number) {}
  readonly bySeq = new Map<number, Message>();
  /** Seqs known from a RECEIPT only; the echo replaces them. */
  readonly fromReceipt = new Set<number>();
  readonly pending = new Map<string, PendingSend>();
  readonly typing = new Map<number, { user: User; timer: ReturnType<typeof setTimeout> }>();
  readonly listeners = new Set<() => void>();
  /** Seqs whose held copy was made from an edit's or delete's RECEIPT; the event replaces it. */
  readonly changeFromReceipt = new Set<number>();
  /** The user's own edits and deletes in flight, by seq, latest last. */
  readonly pendingChanges = new Map<number, PendingChange[]>();
  /** The user's own reactions in flight, by seq. */
  readonly pendingReactions = new Map<number, PendingReaction[]>();
  /** Changes to messages not held, by seq (applied if the message arrives later). */
  readonly unheldChanges = new Map<number, Message>();
  /** Highest rev seen. */
  maxRev = 0;
  /** Every change up to this rev is known to be applied (where recovery after `resync` starts). */
  syncedRev = 0;
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
    this.changeFromReceipt.clear();
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
    for (const arrived of messages) {
      bucket.maxRev = Math.max(bucket.maxRev, revOf(arrived));
      const aside = bucket.unheldChanges.get(arrived.seq);
      bucket.unheldChanges.delete(arrived.seq);
      const message = aside && revOf(aside) > revOf(arrived) ? aside : arrived;
      const heldMessage = bucket.bySeq.get(message.seq);
      const held = heldMessage !== undefined;
      if (held && !bucket.fromReceipt.has(message.seq)) {
        if (this.isNewer(bucket, message, heldMessage)) this.replace(bucket, message);
        continue;
      }
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

  /**
   * A `changed` event (or a changes page): the held message takes the copy if its `rev` is
   * newer; a message not held keeps it aside. Returns whether what is shown changed.
   */
  applyChange(roomId: number, message: Message): boolean {
    const bucket = this.bucket(roomId);
    bucket.maxRev = Math.max(bucket.maxRev, revOf(message));
    const held = bucket.bySeq.get(message.seq);
    if (!held) {
      const aside = bucket.unheldChanges.get(message.seq);
      if (!aside || revOf(message) > revOf(aside)) {
        bucket.unheldChanges.delete(message.seq);
        bucket.unheldChanges.set(message.seq, message);
        const oldest = bucket.unheldChanges.keys().next();
        if (bucket.unheldChanges.size > MAX_UNHELD_CHANGES && !oldest.done) bucket.unheldChanges.delete(oldest.value);
      }
      return false;
    }
    if (!this.isNewer(bucket, message, held)) return false;
    this.replace(bucket, message);
    this.touch(roomId);
    return true;
  }

  /** What a reply to the held message at `seq` shows of it while the reply is pending. */
  replyPreview(roomId: number, seq: number): ReplyPreview | undefined {
    const m = this.get(roomId, seq);
    return m && { seq, sender: m.sender, text: m.text.slice(0, 200), editedAt: m.editedAt, deletedAt: m.deletedAt, attachments: m.attachments?.length };
  }

  /** The held message at `seq`, as stored (without an edit in flight). */
  get(roomId: number, seq: number): Message | undefined {
    return this.buckets.get(roomId)?.bySeq.get(seq);
  }

  /** The highest rev seen in the room: the `since-rev` of the next SUBSCRIBE. */
  maxRev(roomId: number): number {
    return this.buckets.get(roomId)?.maxRev ?? 0;
  }

  /**
   * The room's latest rev as the server reported it while nothing of the room is held: any
   * message fetched from now on is at least that recent, so changes up to it need no replay.
   */
  noteRevFloor(roomId: number, rev: number): void {
    const bucket = this.bucket(roomId);
    if (bucket.bySeq.size > 0) return;
    bucket.maxRev = Math.max(bucket.maxRev, rev);
    bucket.syncedRev = Math.max(bucket.syncedRev, rev);
  }

  /** Every change up to `rev` is applied (a changes page ran out, a connect started from it). */
  markSynced(roomId: number, rev: number): void {
    const bucket = this.bucket(roomId);
    bucket.syncedRev = Math.max(bucket.syncedRev, rev);
  }

  /** Where recovery of changes starts for the room (see `markSynced`). */
  syncedRev(roomId: number): number {
    return this.buckets.get(roomId)?.syncedRev ?? 0;
  }

  /** Rooms with messages held. */
  heldRooms(): number[] {
    return [...this.buckets.values()].filter((b) => b.bySeq.size > 0).map((b) => b.roomId);
  }

  /** Shows the user's own edit (or delete, `text` empty) of a held message before the server confirms it. */
  addPendingChange(roomId: number, seq: number, change: { actionId: string; text: string; deleted: boolean; at: string }): void {
    const bucket = this.bucket(roomId);
    const list = bucket.pendingChanges.get(seq) ?? [];
    list.push({ ...change });
    bucket.pendingChanges.set(seq, list);
    this.touch(roomId);
  }

  /**
   * The RECEIPT of an edit or delete (with the `rev` it took, if the server says): the held
   * message takes it, unless a newer copy is held already. Returns the held message.
   */
  confirmChange(roomId: number, seq: number, actionId: string, rev: number | undefined): Message | undefined {
    const bucket = this.bucket(roomId);
    const change = this.dropPendingChange(bucket, seq, actionId);
    const held = bucket.bySeq.get(seq);
    if (!held || !change) return held;
    if (rev !== undefined && rev > revOf(held)) {
      const message: Message = change.deleted
        ? { ...held, text: '', deletedAt: change.at, rev }
        : { ...held, text: change.text, editedAt: change.at, rev };
      bucket.bySeq.set(seq, message);
      bucket.changeFromReceipt.add(seq);
      bucket.maxRev = Math.max(bucket.maxRev, rev);
    }
    this.touch(roomId);
    return bucket.bySeq.get(seq);
  }

  /** The server refused an edit or delete: the message shows as stored again. */
  rollbackChange(roomId: number, seq: number, actionId: string): void {
    const bucket = this.buckets.get(roomId);
    if (bucket && this.dropPendingChange(bucket, seq, actionId)) this.touch(roomId);
  }

  /** Shows the user's own reaction (added or taken back) before the server confirms it. */
  addPendingReaction(roomId: number, seq: number, reaction: PendingReaction): void {
    const bucket = this.bucket(roomId);
    bucket.pendingReactions.set(seq, [...(bucket.pendingReactions.get(seq) ?? []), reaction]);
    this.touch(roomId);
  }

  /**
   * The RECEIPT of a reaction (`rev`: the rev it took; none when it changed nothing, or on a
   * server that does not say): the held message takes it unless a newer copy is held.
   * `ok` false: the server refused it, and the message shows as stored again.
   */
  settleReaction(roomId: number, seq: number, actionId: string, ok: boolean, rev?: number): void {
    const bucket = this.bucket(roomId);
    const list = bucket.pendingReactions.get(seq) ?? [];
    const reaction = list.find((r) => r.actionId === actionId);
    if (!reaction) return;
    const rest = list.filter((r) => r !== reaction);
    if (rest.length > 0) bucket.pendingReactions.set(seq, rest);
    else bucket.pendingReactions.delete(seq);
    const held = bucket.bySeq.get(seq);
    if (ok && held && rev !== undefined && rev > revOf(held)) {
      bucket.bySeq.set(seq, { ...held, reactions: toggleReaction(held.reactions ?? NONE, reaction.emoji, reaction.userId, reaction.add), rev });
      bucket.changeFromReceipt.add(seq);
      bucket.maxRev = Math.max(bucket.maxRev, rev);
    }
    this.touch(roomId);
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
  addPending(roomId: number, send: { clientMsgId: string; text: string; sender: User; createdAt: string } & SendExtras): void {
    this.bucket(roomId).pending.set(send.clientMsgId, { ...send, state: 'pending' });
    this.touch(roomId);
  }

  /** The text of a pending or failed send. */
  pendingText(roomId: number, clientMsgId: string): string | undefined {
    return this.buckets.get(roomId)?.pending.get(clientMsgId)?.text;
  }

  /** What a pending or failed send carries besides its text (to send it again). */
  pendingExtras(roomId: number, clientMsgId: string): SendExtras {
    const pending = this.buckets.get(roomId)?.pending.get(clientMsgId);
    return { replyTo: pending?.replyTo, attachments: pending?.attachments };
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
      replyTo: pending.replyTo,
      attachments: pending.attachments,
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

  private isNewer(bucket: RoomBucket, message: Message, held: Message): boolean {
    const rev = revOf(message);
    return rev > revOf(held) || (rev === revOf(held) && rev > 0 && bucket.changeFromReceipt.has(message.seq));
  }

  private replace(bucket: RoomBucket, message: Message): void {
    bucket.bySeq.set(message.seq, message);
    bucket.changeFromReceipt.delete(message.seq);
    this.touch(bucket.roomId);
  }

  private dropPendingChange(bucket: RoomBucket, seq: number, actionId: string): PendingChange | undefined {
    const list = bucket.pendingChanges.get(seq);
    const change = list?.find((c) => c.actionId === actionId);
    if (!list || !change) return undefined;
    const rest = list.filter((c) => c !== change);
    if (rest.length > 0) bucket.pendingChanges.set(seq, rest);
    else bucket.pendingChanges.delete(seq);
    return change;
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
      const change = bucket.pendingChanges.get(message.seq)?.at(-1);
      const reactions = bucket.pendingReactions.get(message.seq);
      let shown = this.shown(message);
      // Own edits and reactions in flight: shown as they will be, not cached (they go away
      // with their RECEIPT).
      if (change) {
        const deleted = change.deleted || !!message.deletedAt;
        shown = { ...shown, text: deleted ? '' : change.text, editedAt: change.deleted ? (message.editedAt ?? null) : change.at, deleted };
      }
      if (reactions) shown = { ...shown, reactions: reactions.reduce<readonly Reaction[]>((list, r) => toggleReaction(list, r.emoji, r.userId, r.add), shown.reactions) };
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
        editedAt: null,
        deleted: false,
        replyTo: pending.replyTo ?? null,
        reactions: NONE,
        mentions: NONE,
        attachments: pending.attachments ?? NONE,
      });
    }
    const typing = [...bucket.typing.values()].map((t) => t.user);
    const hasOlder = !bucket.noOlder && (bucket.bySeq.size === 0 ? bucket.knownLatest > 0 : bucket.minSeq > 1);
    return { messages, hasOlder, loadingOlder: bucket.loadingOlder, typing };
  }

  /** A stored message as the view shows it; the same object as long as the message is. */
  private shown(message: Message): ChatMessage {
    let shown = this.rendered.get(message);
    if (!shown) {
      const deleted = !!message.deletedAt;
      shown = {
        key: message.clientMsgId ? `c${message.clientMsgId}` : `s${message.seq}`,
        roomId: message.roomId,
        seq: message.seq,
        id: message.id,
        sender: message.sender,
        text: deleted ? '' : message.text,
        sentAt: message.sentAt,
        clientMsgId: message.clientMsgId,
        state: 'sent',
        editedAt: message.editedAt ?? null,
        deleted,
        replyTo: message.replyTo ?? null,
        reactions: message.reactions ?? NONE,
        mentions: message.mentions ?? NONE,
        attachments: deleted ? NONE : (message.attachments ?? NONE),
      };
      this.rendered.set(message, shown);
    }
    return shown;
  }
}
