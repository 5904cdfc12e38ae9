//! The plain STOMP mode's chat engine: the seed's cure on a broker that knows nothing of chat
//! (RabbitMQ Web-STOMP, Spring's simple broker, ActiveMQ).
//!
//! What it keeps of the sotong mode:
//! - one connection, reference-counted subscriptions restored after every reconnect, reliable
//!   sends that are retried with the same client id until the broker's RECEIPT (or the echo);
//! - routing by visibility, done here: every room of the user (`rooms`, `addRoom`) has its
//!   topic subscribed for the whole session, and a message for a room on screen goes to its
//!   chat while any other becomes a notification (toast and unread count), never both;
//! - each message shown once: a message's `clientMsgId` is its identity, so an echo, a retry
//!   that the broker delivered twice and a message that history also returned merge.
//!
//! What a plain broker cannot give, and so this mode does not (see the README's "Plain STOMP
//! mode"): no server order or `seq` (messages are numbered here, in arrival order), no recovery
//! of what was published while this client was disconnected unless the app supplies
//! `loadHistory`, and unread counts that live in this tab only.
//!
//! Bodies are JSON (`StompRoomEvent`) unless the app supplies a `codec` for its own format.
import { Connection, type ConnectionOptions } from './connection';
import { MessageActionError, type ChatClient } from './engine';
import { MessageStore } from './messageStore';
import { NotificationStore } from './notificationStore';
import { RefCounts } from './refCounts';
import type { IncomingFrame } from './registry';
import { RoomStore } from './roomStore';
import type { ErrorEvent, Message, NotificationEvent, Room, User } from './types';

/** A chat message as it travels on a plain broker: no server id, no seq. */
export interface StompMessage {
  /** The sender's id for this message, kept across retries: its identity. */
  clientMsgId: string;
  roomId: number;
  sender: User;
  text: string;
  /** RFC 3339, the sender's clock. */
  sentAt: string;
}

/** What travels on a room's topic in plain mode. */
export type StompRoomEvent = { type: 'message'; message: StompMessage } | { type: 'typing'; roomId: number; user: User };

/** Turns room events into frame bodies and back; the default is JSON of `StompRoomEvent`. */
export interface StompCodec {
  encode(event: StompRoomEvent): string;
  /** Null for a frame that is not a room event (it is ignored). */
  decode(frame: IncomingFrame, roomId: number): StompRoomEvent | null;
}

/** The default codec: the JSON of `StompRoomEvent`, checked on the way in. */
export const jsonCodec: StompCodec = {
  encode: (event) => JSON.stringify(event),
  decode: (frame) => {
    let value: unknown;
    try {
      value = JSON.parse(frame.body);
    } catch {
      return null;
    }
    const event = value as Partial<StompRoomEvent> | null;
    if (event?.type === 'message' && typeof event.message?.clientMsgId === 'string' && typeof event.message.text === 'string') {
      return event as StompRoomEvent;
    }
    if (event?.type === 'typing' && typeof event.user?.id === 'number') return event as StompRoomEvent;
    return null;
  },
};

/** Where a room's events are subscribed and sent on the broker. */
export interface StompDestinations {
  /** The topic a room's events are subscribed from. Default: `/topic/rooms.{id}`. */
  topic(roomId: number): string;
  /**
   * Where a room's events are sent. Default: the topic itself (RabbitMQ, ActiveMQ); a Spring
   * app whose controller re-broadcasts sends to its `/app/...` prefix instead.
   */
  send(roomId: number): string;
}

/** A room as the app declares it; what the room list needs beyond it starts empty. */
export type StompRoom = Pick<Room, 'id' | 'kind' | 'name'> & Partial<Pick<Room, 'members'>>;

/** Options of a `StompChatClient`. */
export interface StompChatClientOptions extends ConnectionOptions {
  /** The signed-in user (a plain broker does not say who that is). */
  me: User;
  /** The rooms of the user: their topics stay subscribed, so messages for them are never missed. */
  rooms?: readonly StompRoom[];
  destinations?: Partial<StompDestinations>;
  /**
   * Recovers what a subscription missed: called for each room when its topic is (re)subscribed,
   * with the last message held (undefined at first). Returns the room's messages after it,
   * oldest first. Live messages that arrive meanwhile are held back and shown after them.
   */
  loadHistory?: (roomId: number, after: Message | undefined) => Promise<readonly StompMessage[]>;
  codec?: StompCodec;
  /** How long a toast stays, in ms (0: until dismissed). */
  toastMs?: number;
  /** Minimum time between two typing signals of one room. */
  typingThrottleMs?: number;
  /** Makes client message ids (defaults to `crypto.randomUUID`). */
  newId?: () => string;
}

/** One room's topic as this engine holds it. */
interface Followed {
  release: () => void;
  /** Non-null while `loadHistory` runs: live events wait here. */
  heldBack: StompRoomEvent[] | null;
}

/** See the module docs. */
export class StompChatClient implements ChatClient {
  readonly me: User;
  readonly connection: Connection;
  readonly messages = new MessageStore();
  readonly rooms = new RoomStore();
  readonly toasts: NotificationStore;
  private readonly options: StompChatClientOptions;
  private readonly destinations: StompDestinations;
  private readonly codec: StompCodec;
  private readonly visible = new RefCounts<number>();
  /** Holders of each room's topic: the room list (for the session) and each view showing it. */
  private readonly followers = new RefCounts<number>();
  private readonly followed = new Map<number, Followed>();
  /** The room list's hold on each room's topic (released by `removeRoom`). */
  private readonly listed = new Map<number, () => void>();
  /** Per room: `clientMsgId` → the local seq it was given. */
  private readonly seqOf = new Map<number, Map<string, number>>();
  private readonly nextSeq = new Map<number, number>();
  private readonly notificationListeners = new Set<(event: NotificationEvent) => void>();
  private readonly lastTyping = new Map<number, number>();

  constructor(options: StompChatClientOptions) {
    this.options = options;
    this.me = options.me;
    this.codec = options.codec ?? jsonCodec;
    const topic = options.destinations?.topic ?? ((roomId: number) => `/topic/rooms.${String(roomId)}`);
    this.destinations = { topic, send: options.destinations?.send ?? topic };
    this.toasts = new NotificationStore(options.toastMs);
    this.connection = new Connection({ errorsDestination: null, ...options });
    this.rooms.setAll((options.rooms ?? []).map(fullRoom));
    for (const room of options.rooms ?? []) this.listed.set(room.id, this.follow(room.id));
    this.connection.onConnected(() => {
      for (const roomId of this.followed.keys()) void this.recover(roomId);
    });
  }

  /** Connects (idempotent; cancels a `stop` of the same tick). */
  start(): void {
    this.connection.activate();
  }

  /** Disconnects at the end of the tick unless `start` comes first. */
  stop(): void {
    this.connection.deactivate();
  }

  /** Adds a room of the user (one joined or created by the app): its topic is followed from now on. */
  addRoom(room: StompRoom): void {
    const known = this.rooms.get(room.id);
    this.rooms.upsert({ ...fullRoom(room), ...known, ...room });
    if (!this.listed.has(room.id)) this.listed.set(room.id, this.follow(room.id));
  }

  /**
   * The user left the room: its topic is no longer followed for the session (a view still
   * showing it keeps it until it closes), and it leaves the room list.
   */
  removeRoom(roomId: number): void {
    this.listed.get(roomId)?.();
    this.listed.delete(roomId);
    this.rooms.remove(roomId);
  }

  isVisible(roomId: number): boolean {
    return this.visible.has(roomId);
  }

  /**
   * The room is on screen (reference-counted): its topic is subscribed (one SUBSCRIBE shared
   * with the room list's), it is marked read, its toasts go away.
   */
  watchRoom(roomId: number): () => void {
    this.toasts.dismissRoom(roomId);
    const unfollow = this.follow(roomId);
    const hide = this.visible.acquire(roomId, { onLast: () => this.messages.clearTyping(roomId) });
    this.markRead(roomId);
    return () => {
      hide();
      unfollow();
    };
  }

  send(roomId: number, text: string): string {
    const clientMsgId = this.options.newId?.() ?? crypto.randomUUID();
    const sentAt = new Date().toISOString();
    this.messages.addPending(roomId, { clientMsgId, text, sender: this.me, createdAt: sentAt });
    this.transmit({ clientMsgId, roomId, sender: this.me, text, sentAt });
    return clientMsgId;
  }

  retry(roomId: number, clientMsgId: string): void {
    const text = this.messages.pendingText(roomId, clientMsgId);
    if (text === undefined) return;
    this.messages.retry(roomId, clientMsgId);
    this.transmit({ clientMsgId, roomId, sender: this.me, text, sentAt: new Date().toISOString() });
  }

  /** Not in plain STOMP mode (a plain broker has no stored messages to change): rejects with `unsupported`. */
  editMessage(): Promise<void> {
    return Promise.reject(new MessageActionError('unsupported', 'editing messages needs a sotong server'));
  }

  /** Not in plain STOMP mode: rejects with `unsupported`. */
  deleteMessage(): Promise<void> {
    return Promise.reject(new MessageActionError('unsupported', 'deleting messages needs a sotong server'));
  }

  /** Not in plain STOMP mode: rejects with `unsupported`. */
  react(): Promise<void> {
    return Promise.reject(new MessageActionError('unsupported', 'reactions need a sotong server'));
  }

  /** A plain broker keeps no history: older messages come only through `loadHistory`. */
  loadOlder(): Promise<void> {
    return Promise.resolve();
  }

  notifyTyping(roomId: number): void {
    const now = Date.now();
    if (now - (this.lastTyping.get(roomId) ?? 0) < (this.options.typingThrottleMs ?? 2_500)) return;
    const body = this.codec.encode({ type: 'typing', roomId, user: this.me });
    if (this.connection.publish(this.destinations.send(roomId), body)) this.lastTyping.set(roomId, now);
  }

  /** Marks the room read in this tab (a plain broker has nowhere to keep read marks). */
  markRead(roomId: number): void {
    const seq = this.messages.lastSeq(roomId);
    const room = this.rooms.get(roomId);
    if (!room || (room.unread === 0 && room.lastReadSeq >= seq)) return;
    this.rooms.markRead(roomId, seq);
  }

  onNotification(listener: (event: NotificationEvent) => void): () => void {
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  /** A plain broker reports errors with `ERROR` frames, which end the connection: nothing comes here. */
  onServerError(listener: (error: ErrorEvent) => void): () => void {
    return this.connection.onServerError(listener);
  }

  /** Holds the room's topic subscribed until the returned function is called. */
  private follow(roomId: number): () => void {
    return this.followers.acquire(roomId, {
      onFirst: () => {
        const release = this.connection.subscribe(this.destinations.topic(roomId), (frame) => this.onFrame(roomId, frame));
        this.followed.set(roomId, { release, heldBack: null });
        if (this.connection.status === 'connected') void this.recover(roomId);
      },
      onLast: () => {
        this.followed.get(roomId)?.release();
        this.followed.delete(roomId);
      },
    });
  }

  /** Runs `loadHistory` for a room just (re)subscribed, holding live events back meanwhile. */
  private async recover(roomId: number): Promise<void> {
    const load = this.options.loadHistory;
    const entry = this.followed.get(roomId);
    if (!load || !entry || entry.heldBack) return;
    entry.heldBack = [];
    try {
      const page = await load(roomId, this.lastMessage(roomId));
      for (const message of page) this.ingest({ ...message, roomId }, { recovered: true });
    } catch {
      // Nothing recovered this time; the live messages below still show.
    } finally {
      const heldBack = entry.heldBack;
      entry.heldBack = null;
      for (const event of heldBack) this.apply(roomId, event);
    }
  }

  private lastMessage(roomId: number): Message | undefined {
    const messages = this.messages.getSnapshot(roomId).messages;
    for (let i = messages.length - 1; i >= 0; i--) {
      const shown = messages[i];
      if (shown && shown.seq !== null && shown.id !== null) {
        return { id: shown.id, roomId, seq: shown.seq, sender: shown.sender, text: shown.text, sentAt: shown.sentAt, clientMsgId: shown.clientMsgId };
      }
    }
    return undefined;
  }

  private transmit(message: StompMessage): void {
    const { roomId, clientMsgId } = message;
    this.connection.sendReliable({
      destination: this.destinations.send(roomId),
      body: this.codec.encode({ type: 'message', message }),
      clientMsgId,
      // The broker has routed it; the echo (if it comes) merges by client id.
      onReceipt: () => {
        const seq = this.localSeq(roomId, clientMsgId);
        const stored = this.messages.confirm(roomId, clientMsgId, { id: seq, seq });
        if (stored) this.rooms.noteMessage(stored, { visible: this.isVisible(roomId), fromMe: true });
      },
      onError: (error) => this.messages.fail(roomId, clientMsgId, error.code),
    });
  }

  private onFrame(roomId: number, frame: IncomingFrame): void {
    const event = this.codec.decode(frame, roomId);
    if (!event) return;
    const heldBack = this.followed.get(roomId)?.heldBack;
    if (heldBack) heldBack.push(event);
    else this.apply(roomId, event);
  }

  private apply(roomId: number, event: StompRoomEvent): void {
    if (event.type === 'message') this.ingest({ ...event.message, roomId }, { recovered: false });
    else if (event.user.id !== this.me.id && this.isVisible(roomId)) this.messages.setTyping(roomId, event.user);
  }

  /** The local seq of a message, given on first sight. */
  private localSeq(roomId: number, clientMsgId: string): number {
    let seqs = this.seqOf.get(roomId);
    if (!seqs) {
      seqs = new Map();
      this.seqOf.set(roomId, seqs);
    }
    let seq = seqs.get(clientMsgId);
    if (seq === undefined) {
      seq = (this.nextSeq.get(roomId) ?? 0) + 1;
      this.nextSeq.set(roomId, seq);
      seqs.set(clientMsgId, seq);
    }
    return seq;
  }

  /** Stores a message once and routes it by visibility: chat, or notification (not for recovered ones). */
  private ingest(incoming: StompMessage, how: { recovered: boolean }): void {
    const roomId = incoming.roomId;
    const seq = this.localSeq(roomId, incoming.clientMsgId);
    const message: Message = {
      id: seq,
      roomId,
      seq,
      sender: incoming.sender,
      text: incoming.text,
      sentAt: incoming.sentAt,
      clientMsgId: incoming.clientMsgId,
    };
    const fromMe = message.sender.id === this.me.id;
    // The echo of an own send proves it arrived, RECEIPT or not.
    if (fromMe) this.connection.settle(incoming.clientMsgId);
    const fresh = this.messages.insert(roomId, [message]).length > 0;
    if (!fresh) return;
    const visible = this.isVisible(roomId);
    const room = this.rooms.get(roomId);
    this.rooms.noteMessage(message, { visible, fromMe });
    if (visible) {
      this.markRead(roomId);
      return;
    }
    if (fromMe) return;
    const unread = this.rooms.get(roomId)?.unread ?? 0;
    if (!how.recovered) {
      this.toasts.push({
        roomId,
        roomName: room?.name ?? message.sender.displayName,
        roomKind: room?.kind ?? 'direct',
        sender: message.sender,
        text: message.text,
      });
    }
    for (const listener of [...this.notificationListeners]) listener({ type: 'message', roomId, message, unread });
  }
}

/** A declared room as the room list holds it: no message yet, nothing unread. */
function fullRoom(room: StompRoom): Room {
  return { members: [], lastMessage: null, unread: 0, lastReadSeq: 0, ...room };
}
