//! The sotong mode's chat engine: the `Connection`, the stores, and the rules of sotong's
//! contract that join them. No React here; the provider only starts and stops it.
//!
//! - Always subscribed (while connected): `/user/queue/notifications` and
//!   `/user/queue/errors`. A room topic is subscribed while the room is on screen
//!   (`watchRoom`), with `since-seq` from the message store on every (re)subscribe.
//! - Every incoming message, whatever channel brought it (room topic, notification, a frame
//!   that arrived after its UNSUBSCRIBE), goes through `ingest`: into the message store by
//!   seq, then routed by visibility, once: the room on screen shows it and stays read;
//!   any other room gets a toast and an unread bump. A duplicate (same seq) is routed nowhere.
//! - Sends are optimistic: a pending entry in the store, a reliable send in the connection's
//!   outbox, confirmed by the RECEIPT (`message-id`, `seq`) or by the echo, whichever is first.
//! - After each connect the rooms snapshot (`GET /api/rooms`) refreshes unread counts and
//!   every room's latest seq (contract rule 7). A `resync` notification (events may have been
//!   lost on the server's side) does the same, and re-fetches what follows the last message
//!   held of each room on screen.
//! - Edits and deletes (`editMessage`, `deleteMessage`) are reliable sends too, shown at once
//!   and undone if refused. A `changed` event, on the topic or as a notification, updates
//!   the held message if its `rev` is newer (never a toast, never an unread bump) and the
//!   room list's preview if it is the room's last message. Recovery of changes missed: the
//!   room SUBSCRIBE carries `since-rev` (highest rev seen) beside `since-seq`; after a
//!   reconnect, rooms not on screen whose messages are held and whose `lastRev` in the
//!   snapshot is ahead fetch `GET /api/rooms/{id}/changes`; after a `resync` every room
//!   held does, from the last rev known complete.
//! - Replies and attachments ride on a send (`replyTo` seq, attachment ids); reactions
//!   (`react`) are reliable sends shown at once like edits, and come back as `changed`
//!   events (`reacted`) taken by `rev`. A message mentioning the user bumps the room's
//!   `unreadMentions` and marks its toast `mention`.
//! - Read receipts: a room topic is subscribed with `receipts: true`; each (re)subscribe
//!   reloads the members' marks (`GET /api/rooms/{id}/reads`) into `readMarks`, which the
//!   topic's `read` events and every message (its sender has read up to it) move forward.
import { PresenceStore } from './presenceStore';
import { httpStatus, type SotongApi } from './api';
import { Connection, type ConnectionOptions } from './connection';
import { MessageActionError, type ChatClient } from './engine';
import { MessageStore, type SendExtras } from './messageStore';
import { NotificationStore } from './notificationStore';
import { ReadMarkStore } from './readMarks';
import { RefCounts } from './refCounts';
import type { IncomingFrame } from './registry';
import { RoomStore } from './roomStore';
import type { ErrorEvent, Message, NotificationEvent, Room, RoomEvent, User } from './types';

/** Messages per history page. */
export const PAGE_SIZE = 50;

/** Changed messages per page of `GET /api/rooms/{id}/changes` (the server's maximum). */
export const CHANGES_PAGE_SIZE = 200;

/** Pages of changes one catch-up fetches at most (older changes wait for the next one). */
const MAX_CHANGES_PAGES = 10;

/** Destination of a room's topic. */
export const roomTopic = (roomId: number): string => `/topic/rooms/${String(roomId)}`;

/** The user-queue destination of notifications. */
export const NOTIFICATIONS_DESTINATION = '/user/queue/notifications';

/** Options of a `SotongChatClient`. */
export interface SotongChatClientOptions extends ConnectionOptions {
  /** The logged-in user. */
  me: User;
  /** sotong's HTTP API (`createSotongApi`, or the app's own client). */
  api: SotongApi;
  /** Turns a refused send's error code into what the person reads (defaults to the code). */
  describeError?: (code: string) => string;
  /** How long a toast stays, in ms (0: until dismissed). */
  toastMs?: number;
  /** Minimum time between two typing signals of one room. */
  typingThrottleMs?: number;
  /** Makes `client-msg-id`s (defaults to `crypto.randomUUID`). */
  newId?: () => string;
}

/** See the module docs. */
export class SotongChatClient implements ChatClient {
  readonly me: User;
  readonly connection: Connection;
  readonly messages = new MessageStore();
  readonly rooms = new RoomStore();
  readonly readMarks = new ReadMarkStore();
  readonly toasts: NotificationStore;
  /** Presence of the users the mounted components watch. */
  readonly presence: PresenceStore;
  private readonly api: SotongApi;
  private readonly options: SotongChatClientOptions;
  private readonly visible = new RefCounts<number>();
  private readonly roomSubscriptions = new Map<number, () => void>();
  private readonly notificationListeners = new Set<(event: NotificationEvent) => void>();
  private readonly readTimers = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly lastTyping = new Map<number, number>();
  private readonly fetchingRooms = new Set<number>();
  private readonly fetchingChanges = new Set<number>();
  private actionCounter = 0;

  constructor(options: SotongChatClientOptions) {
    this.options = options;
    this.me = options.me;
    this.api = options.api;
    this.toasts = new NotificationStore(options.toastMs);
    this.connection = new Connection(options);
    this.presence = new PresenceStore(this.connection);
    this.connection.subscribe(NOTIFICATIONS_DESTINATION, (frame) => this.onNotificationFrame(frame));
    this.connection.setOrphanHandler((frame) => this.onOrphanFrame(frame));
    this.connection.onConnected(() => {
      // No frame of this connection has arrived yet: what is held now is what was known when
      // the last one went down, complete up to each room's highest rev.
      const heldRevs = new Map(this.messages.heldRooms().map((roomId) => [roomId, this.messages.maxRev(roomId)] as const));
      for (const [roomId, rev] of heldRevs) this.messages.markSynced(roomId, rev);
      // A failure here is a 401 (handled by the API's onUnauthorized) or a network blip
      // (the next connect fetches again).
      this.refreshRooms()
        .then(() => {
          // Rooms on screen catch up through `since-rev`; the others held fetch what changed.
          for (const [roomId, rev] of heldRevs) {
            if (!this.isVisible(roomId) && (this.rooms.get(roomId)?.lastRev ?? 0) > rev) void this.catchUpChanges(roomId, rev);
          }
        })
        .catch(() => {});
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

  /** Listens to every notification event, after the stores took it in. */
  onNotification(listener: (event: NotificationEvent) => void): () => void {
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  /** Listens to non-fatal server errors (refused SUBSCRIBE, rate limits, ...). */
  onServerError(listener: (error: ErrorEvent) => void): () => void {
    return this.connection.onServerError(listener);
  }

  /** Is the room on screen? */
  isVisible(roomId: number): boolean {
    return this.visible.has(roomId);
  }

  /**
   * The room is on screen (reference-counted): its topic is subscribed, its history loaded,
   * it is marked read, its toasts go away. Returns the release function.
   */
  watchRoom(roomId: number): () => void {
    this.toasts.dismissRoom(roomId);
    return this.visible.acquire(roomId, {
      onFirst: () => this.openRoom(roomId),
      onLast: () => {
        this.roomSubscriptions.get(roomId)?.();
        this.roomSubscriptions.delete(roomId);
        this.messages.clearTyping(roomId);
      },
    });
  }

  /** Sends a message optimistically (with a reply, attachments); returns its `client-msg-id`. */
  send(roomId: number, text: string, extras: SendExtras = {}): string {
    const clientMsgId = this.options.newId?.() ?? crypto.randomUUID();
    this.messages.addPending(roomId, { clientMsgId, text, sender: this.me, createdAt: new Date().toISOString(), ...extras });
    this.transmit(roomId, clientMsgId, text, extras);
    return clientMsgId;
  }

  /** Sends a failed message again, with the same `client-msg-id`. */
  retry(roomId: number, clientMsgId: string): void {
    const text = this.messages.pendingText(roomId, clientMsgId);
    if (text === undefined) return;
    this.messages.retry(roomId, clientMsgId);
    this.transmit(roomId, clientMsgId, text, this.messages.pendingExtras(roomId, clientMsgId));
  }

  /**
   * Adds or takes back the user's reaction (see `ChatClient.react`).
   *
   * # Errors
   * Rejects with a `MessageActionError` carrying the server's code.
   */
  react(roomId: number, seq: number, emoji: string, add: boolean): Promise<void> {
    const actionId = `react-${this.options.newId?.() ?? crypto.randomUUID()}-${++this.actionCounter}`;
    this.messages.addPendingReaction(roomId, seq, { actionId, emoji, add, userId: this.me.id });
    return new Promise((resolve, reject) => {
      this.connection.sendReliable({
        destination: `${roomTopicApp(roomId)}/messages/${String(seq)}/react`,
        body: JSON.stringify({ emoji, add }),
        clientMsgId: actionId,
        onReceipt: (headers) => {
          const rev = Number(headers.rev);
          this.messages.settleReaction(roomId, seq, actionId, true, headers.rev !== undefined && Number.isFinite(rev) ? rev : undefined);
          resolve();
        },
        onError: (error) => {
          this.messages.settleReaction(roomId, seq, actionId, false);
          reject(new MessageActionError(error.code, error.message));
        },
      });
    });
  }

  /**
   * Edits one of the user's messages (see `ChatClient.editMessage`).
   *
   * # Errors
   * Rejects with a `MessageActionError`: the server's code, or `invalid` for an empty text.
   */
  editMessage(roomId: number, seq: number, text: string): Promise<void> {
    if (!text.trim()) return Promise.reject(new MessageActionError('invalid', 'a message cannot be empty'));
    return this.changeMessage(roomId, seq, { text, deleted: false });
  }

  /**
   * Deletes one of the user's messages (see `ChatClient.deleteMessage`).
   *
   * # Errors
   * Rejects with a `MessageActionError` carrying the server's code.
   */
  deleteMessage(roomId: number, seq: number): Promise<void> {
    return this.changeMessage(roomId, seq, { text: '', deleted: true });
  }

  private changeMessage(roomId: number, seq: number, change: { text: string; deleted: boolean }): Promise<void> {
    const actionId = `${change.deleted ? 'delete' : 'edit'}-${this.options.newId?.() ?? crypto.randomUUID()}-${++this.actionCounter}`;
    this.messages.addPendingChange(roomId, seq, { actionId, ...change, at: new Date().toISOString() });
    return new Promise((resolve, reject) => {
      this.connection.sendReliable({
        destination: `${roomTopicApp(roomId)}/messages/${String(seq)}/${change.deleted ? 'delete' : 'edit'}`,
        body: change.deleted ? '' : JSON.stringify({ text: change.text }),
        clientMsgId: actionId,
        onReceipt: (headers) => {
          const rev = Number(headers.rev);
          const message = this.messages.confirmChange(roomId, seq, actionId, headers.rev !== undefined && Number.isFinite(rev) ? rev : undefined);
          if (message) this.rooms.noteChange(message);
          resolve();
        },
        onError: (error) => {
          this.messages.rollbackChange(roomId, seq, actionId);
          reject(new MessageActionError(error.code, error.message));
        },
      });
    });
  }

  /** Loads the page before the oldest message held. */
  async loadOlder(roomId: number): Promise<void> {
    const before = this.messages.olderCursor(roomId);
    if (before === undefined || this.messages.isLoadingOlder(roomId)) return;
    this.messages.setLoadingOlder(roomId, true);
    let exhausted = false;
    try {
      const page = await this.api.listMessages(roomId, { before, limit: PAGE_SIZE });
      this.messages.insert(roomId, page);
      exhausted = page.length === 0;
    } finally {
      this.messages.setLoadingOlder(roomId, false, exhausted);
    }
  }

  /** Tells the room's other members that the user is typing (throttled). */
  notifyTyping(roomId: number): void {
    const now = Date.now();
    if (now - (this.lastTyping.get(roomId) ?? 0) < (this.options.typingThrottleMs ?? 2_500)) return;
    if (this.connection.publish(`${roomTopicApp(roomId)}/typing`, '{}')) this.lastTyping.set(roomId, now);
  }

  /**
   * Marks the room read up to the latest message known, if it is not already: at once in
   * the room list, and on the server with one `POST` per burst.
   */
  markRead(roomId: number): void {
    const seq = Math.max(this.messages.lastSeq(roomId), this.messages.knownLatest(roomId));
    const room = this.rooms.get(roomId);
    if (seq === 0 || !room) return;
    if (room.lastReadSeq >= seq && room.unread === 0) return;
    this.rooms.markRead(roomId, seq);
    if (this.readTimers.has(roomId)) return;
    this.readTimers.set(
      roomId,
      setTimeout(() => {
        this.readTimers.delete(roomId);
        const upTo = this.rooms.get(roomId)?.lastReadSeq ?? seq;
        this.api.markRead(roomId, upTo).catch(() => {});
      }, 50),
    );
  }

  /** Fetches the rooms snapshot (done after every connect). */
  async refreshRooms(): Promise<void> {
    const rooms = await this.api.listRooms();
    for (const room of rooms) {
      this.messages.setKnownLatest(room.id, room.lastMessage?.seq ?? 0);
      this.messages.noteRevFloor(room.id, room.lastRev ?? 0);
    }
    this.rooms.setAll(rooms);
    // A room on screen that the snapshot lacks (a deep link whose first look failed on the
    // network): ask again, so its view ends as a chat or as "not yours", not as a spinner.
    for (const roomId of this.visible.keys()) {
      if (!this.rooms.get(roomId) && !this.rooms.problem(roomId)) void this.fetchRoom(roomId);
    }
    for (const room of rooms) {
      if (!this.isVisible(room.id)) continue;
      if (!this.roomSubscriptions.has(room.id)) this.subscribeRoom(room.id);
      this.markRead(room.id);
    }
  }

  /**
   * Catches up after the server said events may have been lost (`resync`), as after a
   * reconnect: the rooms snapshot (unread counts, last messages), and for each room on screen
   * the messages after the last one held, through `ingest` (so nothing shows twice).
   */
  resync(): void {
    const synced = new Map(this.messages.heldRooms().map((roomId) => [roomId, this.messages.syncedRev(roomId)] as const));
    this.refreshRooms()
      .then(() => {
        for (const [roomId, rev] of synced) {
          // No `lastRev`: a server without edits, nothing to fetch.
          if ((this.rooms.get(roomId)?.lastRev ?? 0) > rev) void this.catchUpChanges(roomId, rev);
        }
      })
      .catch(() => {});
    for (const roomId of this.visible.keys()) void this.catchUp(roomId).catch(() => {});
  }

  /**
   * Fetches the changes of a room after `after` (pages of `CHANGES_PAGE_SIZE`, at most
   * `MAX_CHANGES_PAGES`) and applies them as `changed` events; once they run out, changes up
   * to the last one are known complete.
   */
  private async catchUpChanges(roomId: number, after: number): Promise<void> {
    if (this.fetchingChanges.has(roomId)) return;
    this.fetchingChanges.add(roomId);
    try {
      let cursor = after;
      for (let page = 0; page < MAX_CHANGES_PAGES; page++) {
        const changes = await this.api.listChanges(roomId, { after: cursor, limit: CHANGES_PAGE_SIZE });
        for (const message of changes) this.applyChange(message);
        cursor = Math.max(cursor, ...changes.map((m) => m.rev ?? 0));
        if (changes.length < CHANGES_PAGE_SIZE) {
          this.messages.markSynced(roomId, cursor);
          return;
        }
      }
    } catch {
      // A network blip: the next reconnect or resync asks again.
    } finally {
      this.fetchingChanges.delete(roomId);
    }
  }

  private async catchUp(roomId: number): Promise<void> {
    const page = await this.api.listMessages(roomId, { after: this.messages.sinceSeq(roomId), limit: PAGE_SIZE });
    for (const message of page) this.ingest(message);
  }

  /** Adds a room the user just created or opened (a direct room, a group). */
  addRoom(room: Room): void {
    this.messages.setKnownLatest(room.id, room.lastMessage?.seq ?? 0);
    this.messages.noteRevFloor(room.id, room.lastRev ?? 0);
    this.rooms.upsert(room);
  }

  /** Forgets a room the user left: it leaves the list, its subscription ends. */
  removeRoom(roomId: number): void {
    this.roomSubscriptions.get(roomId)?.();
    this.roomSubscriptions.delete(roomId);
    this.rooms.remove(roomId);
  }

  private openRoom(roomId: number): void {
    if (this.rooms.get(roomId)) {
      this.subscribeRoom(roomId);
      return;
    }
    // Deep link before the snapshot: learn the room's latest seq first, so the SUBSCRIBE
    // can carry a `since-seq` instead of replaying the whole room.
    void this.fetchRoom(roomId).then(() => {
      if (this.isVisible(roomId) && !this.roomSubscriptions.has(roomId) && this.rooms.get(roomId)) this.subscribeRoom(roomId);
    });
  }

  private subscribeRoom(roomId: number): void {
    const release = this.connection.subscribe(roomTopic(roomId), (frame) => this.onRoomFrame(roomId, frame), {
      // Called on every (re)subscribe: the marks are reloaded then, so none moved while away is missed.
      headers: () => {
        void this.loadReadMarks(roomId);
        return { 'since-seq': String(this.messages.sinceSeq(roomId)), 'since-rev': String(this.messages.maxRev(roomId)), receipts: 'true' };
      },
    });
    this.roomSubscriptions.set(roomId, release);
    if (this.messages.count(roomId) < PAGE_SIZE / 2) void this.loadOlder(roomId).catch(() => {});
    this.markRead(roomId);
  }

  private async loadReadMarks(roomId: number): Promise<void> {
    try {
      const marks = await this.api.listReadMarks?.(roomId);
      if (marks) this.readMarks.setAll(roomId, marks);
    } catch {
      // Not a member any more, or a blip: the marks held stay until the next subscribe.
    }
  }

  private async fetchRoom(roomId: number): Promise<void> {
    if (this.fetchingRooms.has(roomId)) return;
    this.fetchingRooms.add(roomId);
    try {
      this.addRoom(await this.api.getRoom(roomId));
    } catch (error) {
      // Not a member (any more) or gone: the room stays unknown, and a view of it says why.
      // A network failure says nothing about the room: the next look tries again.
      const status = httpStatus(error);
      if (status === 403) this.rooms.markUnavailable(roomId, 'forbidden');
      else if (status === 404) this.rooms.markUnavailable(roomId, 'not_found');
    } finally {
      this.fetchingRooms.delete(roomId);
    }
  }

  private transmit(roomId: number, clientMsgId: string, text: string, extras: SendExtras): void {
    this.connection.sendReliable({
      destination: roomTopicApp(roomId),
      body: JSON.stringify({ text, replyTo: extras.replyTo?.seq, attachments: extras.attachments?.length ? extras.attachments.map((a) => a.id) : undefined }),
      clientMsgId,
      onReceipt: (headers) => {
        const seq = Number(headers.seq);
        const id = Number(headers['message-id']);
        if (!Number.isFinite(seq)) return;
        const message = this.messages.confirm(roomId, clientMsgId, { id, seq });
        if (message) this.rooms.noteMessage(message, { visible: this.isVisible(roomId), fromMe: true });
      },
      // What the person reads comes from the code; the server's text is for logs.
      onError: (error) => this.messages.fail(roomId, clientMsgId, this.options.describeError?.(error.code) ?? error.code),
    });
  }

  private onRoomFrame(roomId: number, frame: IncomingFrame): void {
    const event = parse<RoomEvent>(frame.body);
    if (!event) return;
    if (event.type === 'message') this.ingest(event.message);
    else if (event.type === 'changed') this.applyChange(event.message);
    else if (event.type === 'read') this.readMarks.advance(roomId, event.userId, event.seq);
    else if (event.type === 'typing' && event.user.id !== this.me.id && this.isVisible(roomId)) {
      this.messages.setTyping(roomId, event.user);
    }
  }

  private onOrphanFrame(frame: IncomingFrame): void {
    const match = /^\/topic\/rooms\/(.+)$/.exec(frame.destination);
    if (match?.[1] !== undefined) this.onRoomFrame(Number(match[1]), frame);
  }

  private onNotificationFrame(frame: IncomingFrame): void {
    const event = parse<NotificationEvent>(frame.body);
    if (!event) return;
    switch (event.type) {
      case 'message':
        this.ingest(event.message, event.unread, event.mention, event.muted);
        break;
      case 'room':
        this.addRoom(event.room);
        break;
      case 'read':
        if (!this.rooms.markRead(event.roomId, event.seq)) void this.fetchRoom(event.roomId);
        break;
      case 'changed':
        this.applyChange(event.message);
        break;
      case 'resync':
        this.resync();
        break;
      case 'user':
        if (event.user.id !== this.me.id) this.rooms.updateUser(event.user);
        break;
    }
    for (const listener of [...this.notificationListeners]) listener(event);
  }

  /**
   * An edit or delete (live, replayed or fetched): the held message and the room's preview
   * take it if it is newer. Never a toast or an unread count: nothing new was said.
   */
  private applyChange(message: Message): void {
    this.messages.applyChange(message.roomId, message);
    this.rooms.noteChange(message);
  }

  /** Stores a live message and routes it by visibility, once. */
  private ingest(message: Message, unread?: number, mentioned?: boolean, muted?: boolean): void {
    const roomId = message.roomId;
    const fresh = this.messages.insert(roomId, [message]).length > 0;
    // A member who sends has read everything up to what it sent (the server moves its mark).
    this.readMarks.advance(roomId, message.sender.id, message.seq);
    const visible = this.isVisible(roomId);
    const fromMe = message.sender.id === this.me.id;
    const mention = mentioned ?? message.mentions?.includes(this.me.id) ?? false;
    const room = this.rooms.get(roomId);
    if (!room) void this.fetchRoom(roomId);
    if (!fresh) return;
    this.rooms.noteMessage(message, { visible, unread, fromMe, mention });
    // A muted room stays quiet (counted, never toasted) unless the message mentions the user.
    const quiet = !mention && (muted ?? room?.muted ?? false);
    if (visible) {
      this.markRead(roomId);
    } else if (!fromMe && !quiet) {
      this.toasts.push({
        roomId,
        roomName: room?.name ?? message.sender.displayName,
        roomKind: room?.kind ?? 'direct',
        sender: message.sender,
        text: message.text,
        mention,
      });
    }
  }
}

function roomTopicApp(roomId: number): string {
  return `/app/rooms/${String(roomId)}`;
}

function parse<T>(body: string): T | null {
  try {
    return JSON.parse(body) as T;
  } catch {
    return null;
  }
}
