//! A fake sotong server for unit tests: an in-memory STOMP 1.2 broker behind fake
//! WebSockets, plus the HTTP calls the realtime layer makes, following the contract's
//! delivery rules (one copy per connection: the room topic if subscribed, else
//! notifications; `since-seq` replay; RECEIPT with `message-id` and `seq`; idempotent
//! `client-msg-id`; a second SUBSCRIBE to one destination refused), and edits and deletes as
//! the contract has them (a per-room `rev`, `changed` events routed like messages, tombstones,
//! `since-rev` on SUBSCRIBE, `GET /api/rooms/{id}/changes`, each rule's error code), and
//! replies, reactions, mentions and attachments (a send's `replyTo` and attachment ids,
//! `.../react` with `reacted` changes, mentions found in the text, `mention: true` on
//! notifications, `unreadMentions`; uploads are registered with `addUpload`). Every
//! client frame is logged, so tests assert on the wire, not on private fields.
import type { IStompSocket } from '@stomp/stompjs';
import { SotongHttpError, toggleReaction, type PageQuery, type SotongApi } from '../src';
import type { Attachment, Message, MessageChange, Room, User } from '../src/types';

/** A frame as the broker saw it. */
export interface LoggedFrame {
  conn: number;
  user: string;
  command: string;
  headers: Record<string, string>;
  body: string;
}

interface RoomState {
  id: number;
  kind: 'direct' | 'group';
  name: string;
  members: User[];
  messages: Message[];
  reads: Map<number, number>;
  /** The room's latest rev (edits and deletes). */
  rev: number;
  /** Members who muted the room. */
  muted?: Set<number>;
}

/** The server's longest message (`too_large` above it). */
export const FAKE_MAX_LENGTH = 4000;

const unescape = (v: string) =>
  v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c));

/** Splits a WebSocket message into STOMP frames (also used by the fake topic broker). */
export function parseFrames(data: string): Array<{ command: string; headers: Record<string, string>; body: string }> {
  const frames = [];
  for (const raw of data.split('\0')) {
    const text = raw.replace(/^[\r\n]+/, '');
    if (!text) continue;
    const split = text.indexOf('\n\n');
    const head = split === -1 ? text : text.slice(0, split);
    const body = split === -1 ? '' : text.slice(split + 2);
    const [command = '', ...lines] = head.split('\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const key = unescape(line.slice(0, colon));
      if (!(key in headers)) headers[key] = unescape(line.slice(colon + 1));
    }
    frames.push({ command, headers, body });
  }
  return frames;
}

/** Encodes one STOMP frame with escaped headers. */
export function encodeFrame(command: string, headers: Record<string, string>, body = ''): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/:/g, '\\c');
  const lines = Object.entries(headers).map(([k, v]) => `${esc(k)}:${esc(v)}`);
  return `${command}\n${lines.join('\n')}\n\n${body}\0`;
}

/** The server side a `FakeSocket` talks to. */
export interface SocketHost {
  accept(socket: FakeSocket): void;
  receive(socket: FakeSocket, data: string): void;
  forget(socket: FakeSocket): void;
}

/** A fake browser WebSocket connected to a fake server. */
export class FakeSocket implements IStompSocket {
  url = 'ws://fake/ws';
  protocol = 'v12.stomp';
  binaryType: 'arraybuffer' | 'blob' = 'arraybuffer';
  readyState = 0;
  onclose: ((ev?: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onopen: ((ev?: unknown) => void) | null = null;

  constructor(
    private readonly broker: SocketHost,
    readonly token: string,
  ) {
    setTimeout(() => broker.accept(this), 0);
  }

  send(data: string | ArrayBuffer): void {
    if (this.readyState !== 1) return;
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    this.broker.receive(this, text);
  }

  close(): void {
    this.closeWith(1000);
  }

  /** The server side of a close (also used by `close`). */
  closeWith(code: number): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.broker.forget(this);
    // After the frames already queued (an ERROR before its close).
    setTimeout(() => {
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code, reason: '', wasClean: code === 1000 }), 0);
    }, 0);
  }

  /**
   * Delivers one chunk (one or more frames) as one WebSocket message, asynchronously and in
   * order, each in its own task as a real socket does (stompjs' parser is not re-entrant, and
   * what one message leaves behind renders before the next one comes).
   */
  deliver(chunk: string): void {
    if (this.readyState !== 1) return;
    setTimeout(() => {
      if (this.readyState !== 3) this.onmessage?.({ data: chunk });
    }, 0);
  }
}

interface BrokerConnection {
  id: number;
  socket: FakeSocket;
  user: User;
  connected: boolean;
  /** subscription id -> destination */
  subs: Map<string, string>;
  /** Subscription ids that asked for read receipts (`receipts: true`). */
  receipts?: Set<string>;
  /** The users whose presence this connection watches (its last watch list). */
  watching?: number[];
}

/** The fake server. */
export class FakeBroker implements SocketHost {
  readonly log: LoggedFrame[] = [];
  readonly httpLog: string[] = [];
  /** New sockets are refused (server down). */
  down = false;
  /** Drop the connection right after storing the next SEND, before its RECEIPT. */
  dropBeforeNextReceipt = false;
  /**
   * Answer a SEND with its RECEIPT before the sender's own copy (an older server's order).
   * By default the own copy comes first, as the server sends them now.
   */
  receiptBeforeOwnCopy = false;
  /** Deliver room messages on notifications even to topic subscribers (a SUBSCRIBE race). */
  forceNotifications = false;
  /** CONNECT is answered by this ERROR code instead. */
  rejectConnectWith: string | null = null;
  /**
   * The sender's connections get their own message on the topic or notifications (as the
   * server does). False leaves the RECEIPT (or a later replay) as the only confirmation.
   */
  ownCopies = true;
  /**
   * Chat SENDs are refused the way a plain broker does it: an ERROR frame with this `message`
   * and the SEND's `receipt-id`, then the socket closes.
   */
  refuseSendsWith: string | null = null;
  /** RECEIPTs of chat SENDs wait in `heldReceipts` until `releaseReceipts()`. */
  holdReceipts = false;
  /** Edits are refused with `edit_window_closed` (the server's `--edit-window-secs` passed). */
  editWindowClosed = false;
  /** Sockets the client opened, refused ones included (one per connect attempt). */
  socketsOpened = 0;
  private readonly heldReceipts: Array<{ socket: FakeSocket; frame: string }> = [];
  /** Tokens whose CONNECT is answered by an ERROR with this code (`token_expired`, ...). */
  private readonly refusedTokens = new Map<string, string>();
  private nextToken = 1;
  private readonly users = new Map<string, User>();
  private readonly rooms = new Map<number, RoomState>();
  private readonly connections = new Set<BrokerConnection>();
  private nextConn = 1;
  private nextUser = 1;
  private nextRoom = 100;
  private nextMessage = 1000;
  private nextAttachment = 40;
  /** Uploads not sent yet: id -> room, uploader and the attachment. */
  private readonly uploads = new Map<number, { roomId: number; userId: number; attachment: Attachment }>();

  /** Registers an upload of `user` to a room (what `POST .../attachments` does); send it by id. */
  addUpload(roomId: number, user: User, name: string, contentType: string, size: number, image?: { width: number; height: number }): Attachment {
    const attachment: Attachment = { id: this.nextAttachment++, name, contentType, size, ...(image ? { image } : {}) };
    this.uploads.set(attachment.id, { roomId, userId: user.id, attachment });
    return attachment;
  }

  /**
   * Adds or takes back `user`'s reaction with the server's rules and fans the `reacted` event
   * out. Returns the message or the error code.
   */
  react(roomId: number, seq: number, user: User, emoji: string, add: boolean): Message | string {
    const result = this.applyReaction(roomId, seq, user, emoji, add);
    if (typeof result === 'string') return result;
    if (result.changed) this.fanOutChange(roomId, result.message, 'reacted');
    return result.message;
  }

  /** Creates a user; returns it and its token. */
  addUser(username: string): { user: User; token: string } {
    const user: User = { id: this.nextUser++, username, displayName: username[0]!.toUpperCase() + username.slice(1) };
    const token = `token-${username}`;
    this.users.set(token, user);
    return { user, token };
  }

  /** Creates a room. */
  addRoom(kind: 'direct' | 'group', name: string, members: User[]): number {
    const id = this.nextRoom++;
    this.rooms.set(id, { id, kind, name, members, messages: [], reads: new Map(), rev: 0 });
    return id;
  }

  /** Mutes the room for `user`, as `PUT /api/rooms/{id}/mute` does (no room event sent). */
  mute(roomId: number, user: User): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.muted = new Set([...(room.muted ?? []), user.id]);
  }

  /** A fresh token for an existing user (what a refresh endpoint would hand out). */
  issueToken(user: User): string {
    const token = `token-${user.username}-${this.nextToken++}`;
    this.users.set(token, user);
    return token;
  }

  /** From now on CONNECTs with `token` are answered by an ERROR with `code`. */
  refuseToken(token: string, code = 'token_expired'): void {
    this.refusedTokens.set(token, code);
  }

  /** Sends the RECEIPTs held back by `holdReceipts` (to sockets still open). */
  releaseReceipts(): void {
    for (const { socket, frame } of this.heldReceipts.splice(0)) socket.deliver(frame);
  }

  /** Destinations subscribed on the user's open connections right now. */
  subscriptionsOf(username: string): string[] {
    return [...this.connections].filter((c) => c.user.username === username && c.connected).flatMap((c) => [...c.subs.values()]).sort();
  }

  /** A socket factory for stompjs, as `token`. */
  factory(token: string): () => IStompSocket {
    return () => new FakeSocket(this, token);
  }

  /** Stores a message as `sender` and fans it out (another user posting). */
  post(roomId: number, sender: User, text: string, clientMsgId: string | null = null, replyTo?: number, attachmentIds?: number[]): Message {
    const stored = this.store(roomId, sender, text, clientMsgId, replyTo, attachmentIds);
    if (typeof stored === 'string') throw new Error(stored);
    const message = stored.message;
    this.fanOut(roomId, message);
    return message;
  }

  /** Stores a message as `sender` and delivers it to nobody (lost between server nodes). */
  postUnheard(roomId: number, sender: User, text: string): Message {
    const stored = this.store(roomId, sender, text, null);
    if (typeof stored === 'string') throw new Error(stored);
    return stored.message;
  }

  /**
   * Edits (`text`) or deletes (`null`) a stored message as `user` with the server's rules and
   * fans the `changed` event out. Returns the message or the error code.
   */
  change(roomId: number, seq: number, user: User, text: string | null): Message | string {
    const result = this.applyChange(roomId, seq, user, text);
    if (typeof result === 'string') return result;
    if (result.changed) this.fanOutChange(roomId, result.message, text === null ? 'deleted' : 'edited');
    return result.message;
  }

  /** Like `change`, but the event reaches nobody (lost between server nodes). */
  changeUnheard(roomId: number, seq: number, user: User, text: string | null): Message | string {
    const result = this.applyChange(roomId, seq, user, text);
    return typeof result === 'string' ? result : result.message;
  }

  /** Fans out a `changed` event with any copy of a message (a stale one, a duplicate). */
  fanOutChange(roomId: number, message: Message, change: MessageChange): void {
    for (const [conn, frame] of this.copies(roomId, message, change)) conn.socket.deliver(frame);
  }

  /** The room's latest rev. */
  lastRev(roomId: number): number {
    return this.rooms.get(roomId)?.rev ?? 0;
  }

  /**
   * Renames a user and tells every connection of a user sharing a room with them (a `user`
   * event), as the server does on `PATCH /api/me`.
   */
  renameUser(user: User, displayName: string): User {
    const renamed = { ...user, displayName };
    const contacts = new Set<number>([user.id]);
    for (const room of this.rooms.values()) {
      if (!room.members.some((m) => m.id === user.id)) continue;
      room.members = room.members.map((m) => (m.id === user.id ? renamed : m));
      for (const member of room.members) contacts.add(member.id);
    }
    for (const conn of this.connections) if (conn.connected && contacts.has(conn.user.id)) this.notify(conn, { type: 'user', user: renamed });
    return renamed;
  }

  /**
   * Renames a group (`PATCH /api/rooms/{id}`) and sends each member's connections the room
   * again (a `room` event), as the server does; returns the room as `by` sees it.
   */
  rename(roomId: number, name: string, by: User): Room {
    const room = this.rooms.get(roomId);
    if (!room) throw new Error(`no room ${roomId}`);
    room.name = name;
    for (const conn of this.connections) {
      if (conn.connected && room.members.some((m) => m.id === conn.user.id)) this.notify(conn, { type: 'room', room: this.roomView(room, conn.user) });
    }
    return this.roomView(room, by);
  }

  /** `user` leaves the room (`DELETE /api/rooms/{id}/members/me`): no longer a member. */
  leave(roomId: number, user: User): void {
    const room = this.rooms.get(roomId);
    if (room) room.members = room.members.filter((m) => m.id !== user.id);
  }

  /** Tells every connection to resync (the server's link to its other nodes came back). */
  resync(): void {
    for (const conn of this.connections) if (conn.connected) this.notify(conn, { type: 'resync', reason: 'broker' });
  }

  /** Stores `count` messages and delivers all their frames to each socket in one chunk. */
  burst(roomId: number, sender: User, count: number): Message[] {
    const messages = Array.from({ length: count }, (_, i) => this.postUnheard(roomId, sender, `burst ${i + 1}`));
    const chunks = new Map<BrokerConnection, string>();
    for (const message of messages) {
      for (const [conn, frame] of this.copies(roomId, message)) chunks.set(conn, (chunks.get(conn) ?? '') + frame);
    }
    for (const [conn, chunk] of chunks) conn.socket.deliver(chunk);
    return messages;
  }

  /** How far `userId` has read the room (its read mark on the server), 0 when never. */
  readBy(roomId: number, userId: number): number {
    return this.rooms.get(roomId)?.reads.get(userId) ?? 0;
  }

  /** The stored messages of a room. */
  messages(roomId: number): Message[] {
    return [...(this.rooms.get(roomId)?.messages ?? [])];
  }

  /** A member's read mark moved: `read` on the room topic to subscriptions with receipts. */
  tellRead(roomId: number, userId: number, seq: number): void {
    const destination = `/topic/rooms/${roomId}`;
    for (const conn of this.connections) {
      for (const [id, dest] of conn.subs) {
        if (dest !== destination || !conn.receipts?.has(id)) continue;
        conn.socket.deliver(encodeFrame('MESSAGE', { destination, subscription: id, 'message-id': `r${this.nextMessage++}`, 'content-type': 'application/json' }, JSON.stringify({ type: 'read', roomId, userId, seq })));
      }
    }
  }

  /** Open connections (CONNECTED) of a user. */
  connectionsOf(username: string): number {
    return [...this.connections].filter((c) => c.user.username === username && c.connected).length;
  }

  /** Closes every socket from the server side (a network drop or a restart). */
  dropAll(): void {
    for (const conn of [...this.connections]) conn.socket.closeWith(1006);
  }

  /** Frames of one command (and destination, if given) the broker received. */
  frames(command: string, destination?: string): LoggedFrame[] {
    return this.log.filter((f) => f.command === command && (destination === undefined || f.headers.destination === destination));
  }

  /** The HTTP side, as `token`. */
  api(token: string): SotongApi {
    const me = () => {
      const user = this.users.get(token);
      if (!user) throw new Error('401');
      return user;
    };
    return {
      listRooms: async () => {
        this.httpLog.push('GET /api/rooms');
        const user = me();
        return [...this.rooms.values()].filter((r) => r.members.some((m) => m.id === user.id)).map((r) => this.roomView(r, user));
      },
      getRoom: async (roomId) => {
        this.httpLog.push(`GET /api/rooms/${roomId}`);
        const room = this.rooms.get(roomId);
        if (!room) throw new SotongHttpError(404, 'not_found', `no room ${roomId}`);
        const user = me();
        if (!room.members.some((m) => m.id === user.id)) throw new SotongHttpError(403, 'forbidden', 'you are not a member of this room');
        return this.roomView(room, user);
      },
      listMessages: async (roomId, q: PageQuery) => {
        this.httpLog.push(`GET /api/rooms/${roomId}/messages?before=${q.before ?? ''}&after=${q.after ?? ''}`);
        const limit = Math.min(q.limit ?? 50, 200);
        let list = this.messages(roomId);
        if (q.before !== undefined) list = list.filter((m) => m.seq < q.before!);
        if (q.after !== undefined) return list.filter((m) => m.seq > q.after!).slice(0, limit);
        return list.slice(-limit);
      },
      listChanges: async (roomId, q) => {
        this.httpLog.push(`GET /api/rooms/${roomId}/changes?after=${q.after}`);
        const room = this.rooms.get(roomId);
        if (!room) throw new SotongHttpError(404, 'not_found', `no room ${roomId}`);
        const user = me();
        if (!room.members.some((m) => m.id === user.id)) throw new SotongHttpError(403, 'forbidden', 'you are not a member of this room');
        const limit = Math.min(q.limit ?? 50, 200);
        return room.messages
          .filter((m) => (m.rev ?? 0) > q.after)
          .sort((a, b) => (a.rev ?? 0) - (b.rev ?? 0))
          .slice(0, limit);
      },
      markRead: async (roomId, seq) => {
        this.httpLog.push(`POST /api/rooms/${roomId}/read ${seq}`);
        const user = me();
        const room = this.rooms.get(roomId);
        if (!room) return;
        const before = room.reads.get(user.id) ?? 0;
        room.reads.set(user.id, Math.max(before, seq));
        for (const conn of this.connections) {
          if (conn.user.id === user.id) this.notify(conn, { type: 'read', roomId, seq });
        }
        if (seq > before) this.tellRead(roomId, user.id, seq);
      },
      listReadMarks: async (roomId) => {
        this.httpLog.push(`GET /api/rooms/${roomId}/reads`);
        const room = this.rooms.get(roomId);
        if (!room) throw new SotongHttpError(404, 'not_found', `no room ${roomId}`);
        return room.members.map((m) => ({ userId: m.id, seq: room.reads.get(m.id) ?? 0 }));
      },
    };
  }

  accept(socket: FakeSocket): void {
    this.socketsOpened++;
    if (this.down) {
      socket.readyState = 3;
      socket.onerror?.({});
      socket.onclose?.({ code: 1006, reason: '', wasClean: false });
      return;
    }
    const user = this.users.get(socket.token) ?? { id: -1, username: '?', displayName: '?' };
    this.connections.add({ id: this.nextConn++, socket, user, connected: false, subs: new Map() });
    socket.readyState = 1;
    socket.onopen?.({});
  }

  forget(socket: FakeSocket): void {
    for (const conn of this.connections) if (conn.socket === socket) this.connections.delete(conn);
  }

  receive(socket: FakeSocket, data: string): void {
    const conn = [...this.connections].find((c) => c.socket === socket);
    if (!conn) return;
    for (const frame of parseFrames(data)) {
      this.log.push({ conn: conn.id, user: conn.user.username, ...frame });
      this.handle(conn, frame);
    }
  }

  private handle(conn: BrokerConnection, frame: { command: string; headers: Record<string, string>; body: string }): void {
    const { headers } = frame;
    const receipt = () => {
      if (headers.receipt) conn.socket.deliver(encodeFrame('RECEIPT', { 'receipt-id': headers.receipt }));
    };
    switch (frame.command) {
      case 'CONNECT':
      case 'STOMP': {
        const token = headers.Authorization?.replace(/^Bearer /, '') ?? headers.passcode;
        const refusal = this.rejectConnectWith ?? (token ? this.refusedTokens.get(token) : undefined);
        const user = token ? this.users.get(token) : undefined;
        if (refusal || !user) {
          conn.socket.deliver(encodeFrame('ERROR', { message: refusal ?? 'unauthorized' }));
          conn.socket.closeWith(1008);
          return;
        }
        // The CONNECT's token says who this is, as on the real server.
        conn.user = user;
        conn.connected = true;
        conn.socket.deliver(encodeFrame('CONNECTED', { version: '1.2', 'heart-beat': '0,0', server: 'fake' }));
        return;
      }
      case 'SUBSCRIBE': {
        const destination = headers.destination ?? '';
        if ([...conn.subs.values()].includes(destination)) {
          this.error(conn, 'invalid', 'already subscribed', destination, headers.receipt);
          return;
        }
        conn.subs.set(headers.id ?? '', destination);
        if (headers.receipts === 'true') (conn.receipts ??= new Set()).add(headers.id ?? '');
        const match = /^\/topic\/rooms\/(\d+)$/.exec(destination);
        if (match && headers['since-seq'] !== undefined && headers['since-rev'] !== undefined) {
          // Changes of messages the client holds first, ascending by rev, then the replay.
          const since = Number(headers['since-seq']);
          const sinceRev = Number(headers['since-rev']);
          const changed = this.messages(Number(match[1]))
            .filter((m) => m.seq <= since && (m.rev ?? 0) > sinceRev)
            .sort((a, b) => (a.rev ?? 0) - (b.rev ?? 0));
          for (const message of changed) conn.socket.deliver(this.changedTopicFrame(headers.id ?? '', destination, message, message.deletedAt ? 'deleted' : message.editedAt ? 'edited' : 'reacted'));
        }
        if (match && headers['since-seq'] !== undefined) {
          const since = Number(headers['since-seq']);
          for (const message of this.messages(Number(match[1])).filter((m) => m.seq > since)) {
            conn.socket.deliver(this.topicFrame(headers.id ?? '', destination, message));
          }
        }
        receipt();
        return;
      }
      case 'UNSUBSCRIBE':
        conn.subs.delete(headers.id ?? '');
        receipt();
        return;
      case 'DISCONNECT':
        receipt();
        return;
      case 'SEND': {
        const destination = headers.destination ?? '';
        if (destination === '/app/presence/watch') {
          const { userIds } = JSON.parse(frame.body) as { userIds: number[] };
          conn.watching = userIds;
          this.presenceFrame(conn, userIds);
          receipt();
          return;
        }
        if (destination === '/app/presence') {
          this.reported.push({ user: conn.user.username, state: (JSON.parse(frame.body) as { state: string }).state });
          receipt();
          return;
        }
        const typing = /^\/app\/rooms\/(\d+)\/typing$/.exec(destination);
        if (typing) {
          const roomId = Number(typing[1]);
          for (const other of this.connections) {
            const sub = this.subscriptionOf(other, `/topic/rooms/${roomId}`);
            if (sub !== undefined) other.socket.deliver(encodeFrame('MESSAGE', { destination: `/topic/rooms/${roomId}`, subscription: sub, 'message-id': `t${this.nextMessage++}`, 'content-type': 'application/json' }, JSON.stringify({ type: 'typing', roomId, user: conn.user })));
          }
          receipt();
          return;
        }
        if (this.refuseSendsWith) {
          const errorHeaders: Record<string, string> = { message: this.refuseSendsWith };
          if (headers.receipt) errorHeaders['receipt-id'] = headers.receipt;
          conn.socket.deliver(encodeFrame('ERROR', errorHeaders, 'refused'));
          conn.socket.closeWith(1002);
          return;
        }
        const changeMatch = /^\/app\/rooms\/(\d+)\/messages\/(\d+)\/(edit|delete)$/.exec(destination);
        if (changeMatch) {
          const roomId = Number(changeMatch[1]);
          const text = changeMatch[3] === 'edit' ? ((JSON.parse(frame.body || '{}') as { text?: string }).text ?? '') : null;
          const result = this.applyChange(roomId, Number(changeMatch[2]), conn.user, text);
          if (typeof result === 'string') {
            this.error(conn, result, `refused: ${result}`, destination, headers.receipt);
            return;
          }
          // The RECEIPT after the commit, the events beside it (own connections included).
          if (headers.receipt) conn.socket.deliver(encodeFrame('RECEIPT', { 'receipt-id': headers.receipt, seq: String(result.message.seq), rev: String(result.message.rev ?? 0) }));
          if (result.changed) this.fanOutChange(roomId, result.message, text === null ? 'deleted' : 'edited');
          return;
        }
        const reactMatch = /^\/app\/rooms\/(\d+)\/messages\/(\d+)\/react$/.exec(destination);
        if (reactMatch) {
          const roomId = Number(reactMatch[1]);
          const { emoji = '', add = true } = JSON.parse(frame.body || '{}') as { emoji?: string; add?: boolean };
          const result = this.applyReaction(roomId, Number(reactMatch[2]), conn.user, emoji, add);
          if (typeof result === 'string') {
            this.error(conn, result, `refused: ${result}`, destination, headers.receipt);
            return;
          }
          if (headers.receipt) conn.socket.deliver(encodeFrame('RECEIPT', { 'receipt-id': headers.receipt, seq: String(result.message.seq), rev: String(result.message.rev ?? 0) }));
          if (result.changed) this.fanOutChange(roomId, result.message, 'reacted');
          return;
        }
        const post = /^\/app\/rooms\/(\d+)$/.exec(destination);
        if (!post) {
          this.error(conn, 'not_found', 'no such destination', destination, headers.receipt);
          return;
        }
        const roomId = Number(post[1]);
        const room = this.rooms.get(roomId);
        if (!room?.members.some((m) => m.id === conn.user.id)) {
          this.error(conn, 'forbidden', 'not a member', destination, headers.receipt);
          return;
        }
        const body = JSON.parse(frame.body) as { text: string; replyTo?: number; attachments?: number[] };
        const stored = this.store(roomId, conn.user, body.text, headers['client-msg-id'] ?? null, body.replyTo, body.attachments);
        if (typeof stored === 'string') {
          this.error(conn, stored, `refused: ${stored}`, destination, headers.receipt);
          return;
        }
        const { message, fresh } = stored;
        if (fresh && !this.receiptBeforeOwnCopy) this.fanOut(roomId, message);
        if (this.dropBeforeNextReceipt) {
          this.dropBeforeNextReceipt = false;
          conn.socket.closeWith(1006);
          return;
        }
        if (headers.receipt) {
          const receiptFrame = encodeFrame('RECEIPT', { 'receipt-id': headers.receipt, 'message-id': String(message.id), seq: String(message.seq) });
          if (this.holdReceipts) this.heldReceipts.push({ socket: conn.socket, frame: receiptFrame });
          else conn.socket.deliver(receiptFrame);
        }
        if (fresh && this.receiptBeforeOwnCopy) this.fanOut(roomId, message);
        return;
      }
      default:
        return;
    }
  }

  private store(roomId: number, sender: User, text: string, clientMsgId: string | null, replyTo?: number, attachmentIds: number[] = []): { message: Message; fresh: boolean } | string {
    const room = this.rooms.get(roomId);
    if (!room) throw new Error(`no room ${roomId}`);
    const existing = clientMsgId ? room.messages.find((m) => m.clientMsgId === clientMsgId && m.sender.id === sender.id) : undefined;
    if (existing) return { message: existing, fresh: false };
    const original = replyTo === undefined ? undefined : room.messages.find((m) => m.seq === replyTo);
    if (replyTo !== undefined && !original) return 'reply_not_found';
    if (original?.deletedAt) return 'deleted';
    const attachments: Attachment[] = [];
    for (const id of attachmentIds) {
      const upload = this.uploads.get(id);
      if (!upload || upload.roomId !== roomId || upload.userId !== sender.id) return 'invalid_attachment';
      attachments.push(upload.attachment);
    }
    for (const id of attachmentIds) this.uploads.delete(id);
    // `@username` of a member other than the sender, after a character that is not part of a name.
    const mentions = room.members
      .filter((m) => m.id !== sender.id && new RegExp(`(^|[^\\w.@-])@${m.username}(?![\\w.-])`).test(text))
      .map((m) => m.id);
    const message: Message = {
      id: this.nextMessage++,
      roomId,
      seq: room.messages.length + 1,
      sender,
      text,
      sentAt: new Date(Date.UTC(2025, 0, 1, 12, 0, room.messages.length)).toISOString(),
      clientMsgId,
      editedAt: null,
      deletedAt: null,
      rev: 0,
      ...(original
        ? {
            replyTo: {
              seq: original.seq,
              sender: original.sender,
              text: original.text.slice(0, 200),
              editedAt: original.editedAt ?? null,
              deletedAt: null,
              ...(original.attachments ? { attachments: original.attachments.length } : {}),
            },
          }
        : {}),
      ...(mentions.length > 0 ? { mentions } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
    };
    room.messages.push(message);
    return { message, fresh: true };
  }

  /**
   * The server's rules for an edit (`text`) or delete (`null`): an error code, or the
   * message as stored afterwards and whether it took a new rev (same text, or deleting a
   * tombstone, does not).
   */
  private applyChange(roomId: number, seq: number, user: User, text: string | null): { message: Message; changed: boolean } | string {
    const room = this.rooms.get(roomId);
    if (!room?.members.some((m) => m.id === user.id)) return 'forbidden';
    const index = room.messages.findIndex((m) => m.seq === seq);
    const current = room.messages[index];
    if (!current) return 'not_found';
    if (current.sender.id !== user.id) return 'not_author';
    if (text === null) {
      if (current.deletedAt) return { message: current, changed: false };
    } else {
      if (current.deletedAt) return 'deleted';
      if (!text.trim()) return 'invalid';
      if (text.length > FAKE_MAX_LENGTH) return 'too_large';
      if (this.editWindowClosed) return 'edit_window_closed';
      if (text === current.text) return { message: current, changed: false };
    }
    room.rev += 1;
    const at = new Date(Date.UTC(2025, 0, 2, 9, 0, room.rev)).toISOString();
    // A new object: the HTTP side hands out stored objects, which clients must not see change.
    const message: Message =
      text === null ? { ...current, text: '', deletedAt: at, rev: room.rev, reactions: undefined, attachments: undefined } : { ...current, text, editedAt: at, rev: room.rev };
    room.messages[index] = message;
    return { message, changed: true };
  }

  /** The server's rules for a reaction: an error code, or the message and whether it took a rev. */
  private applyReaction(roomId: number, seq: number, user: User, emoji: string, add: boolean): { message: Message; changed: boolean } | string {
    const room = this.rooms.get(roomId);
    if (!room?.members.some((m) => m.id === user.id)) return 'forbidden';
    const index = room.messages.findIndex((m) => m.seq === seq);
    const current = room.messages[index];
    if (!current) return 'not_found';
    if (current.deletedAt) return 'deleted';
    if (!emoji || /[\sA-Za-z0-9\p{Cc}]/u.test(emoji)) return 'invalid_emoji';
    if (new TextEncoder().encode(emoji).length > 64) return 'too_large';
    const reactions = toggleReaction(current.reactions ?? [], emoji, user.id, add);
    if (JSON.stringify(reactions) === JSON.stringify(current.reactions ?? [])) return { message: current, changed: false };
    room.rev += 1;
    const message: Message = { ...current, reactions: reactions.length > 0 ? reactions : undefined, rev: room.rev };
    room.messages[index] = message;
    return { message, changed: true };
  }

  private fanOut(roomId: number, message: Message): void {
    for (const [conn, frame] of this.copies(roomId, message)) conn.socket.deliver(frame);
  }

  /**
   * One copy per connection of each member: topic if subscribed, else notifications. With
   * `change`, the copies are `changed` events of the message.
   */
  private copies(roomId: number, message: Message, change?: MessageChange): Array<[BrokerConnection, string]> {
    const room = this.rooms.get(roomId)!;
    const out: Array<[BrokerConnection, string]> = [];
    for (const conn of this.connections) {
      if (!conn.connected || !room.members.some((m) => m.id === conn.user.id)) continue;
      if (!this.ownCopies && conn.user.id === message.sender.id) continue;
      const destination = `/topic/rooms/${roomId}`;
      const sub = this.forceNotifications ? undefined : this.subscriptionOf(conn, destination);
      if (sub !== undefined) {
        out.push([conn, change ? this.changedTopicFrame(sub, destination, message, change) : this.topicFrame(sub, destination, message)]);
        continue;
      }
      const notifications = this.subscriptionOf(conn, '/user/queue/notifications');
      if (notifications === undefined) continue;
      if (change) {
        out.push([conn, encodeFrame('MESSAGE', { destination: '/user/queue/notifications', subscription: notifications, 'message-id': `c${message.id}-${message.rev ?? 0}-${conn.id}`, 'content-type': 'application/json' }, JSON.stringify({ type: 'changed', roomId, change, message }))]);
        continue;
      }
      const unread = room.messages.filter((m) => m.seq > (room.reads.get(conn.user.id) ?? 0) && m.sender.id !== conn.user.id).length;
      const mentioned = message.mentions?.includes(conn.user.id) ?? false;
      const mention = mentioned ? { mention: true } : {};
      const muted = !mentioned && this.rooms.get(roomId)?.muted?.has(conn.user.id) ? { muted: true } : {};
      out.push([conn, encodeFrame('MESSAGE', { destination: '/user/queue/notifications', subscription: notifications, 'message-id': `n${message.id}-${conn.id}`, 'content-type': 'application/json' }, JSON.stringify({ type: 'message', roomId, message, unread, ...mention, ...muted }))]);
    }
    return out;
  }

  private topicFrame(sub: string, destination: string, message: Message): string {
    return encodeFrame(
      'MESSAGE',
      { destination, subscription: sub, 'message-id': `m${message.id}`, seq: String(message.seq), 'content-type': 'application/json' },
      JSON.stringify({ type: 'message', message }),
    );
  }

  private changedTopicFrame(sub: string, destination: string, message: Message, change: MessageChange): string {
    return encodeFrame(
      'MESSAGE',
      { destination, subscription: sub, 'message-id': `c${message.id}-${message.rev ?? 0}`, rev: String(message.rev ?? 0), 'content-type': 'application/json' },
      JSON.stringify({ type: 'changed', change, message }),
    );
  }

  private notify(conn: BrokerConnection, event: unknown): void {
    const sub = this.subscriptionOf(conn, '/user/queue/notifications');
    if (sub === undefined) return;
    conn.socket.deliver(encodeFrame('MESSAGE', { destination: '/user/queue/notifications', subscription: sub, 'message-id': `e${this.nextMessage++}`, 'content-type': 'application/json' }, JSON.stringify(event)));
  }

  /** What `/app/presence` SENDs reported, in order. */
  readonly reported: Array<{ user: string; state: string }> = [];
  private readonly presence = new Map<number, { state: string; lastSeenAt: string | null }>();

  /** Sets a user's presence and tells every connection that watches it. */
  setPresence(userId: number, state: 'online' | 'away' | 'offline', lastSeenAt: string | null = null): void {
    this.presence.set(userId, { state, lastSeenAt });
    for (const conn of this.connections) if (conn.watching?.includes(userId)) this.presenceFrame(conn, [userId]);
  }

  private presenceFrame(conn: BrokerConnection, userIds: number[]): void {
    const sub = this.subscriptionOf(conn, '/user/queue/presence');
    if (sub === undefined) return;
    const users = userIds.map((userId) => ({ userId, ...(this.presence.get(userId) ?? { state: 'offline', lastSeenAt: null }) }));
    conn.socket.deliver(encodeFrame('MESSAGE', { destination: '/user/queue/presence', subscription: sub, 'message-id': `p${this.nextMessage++}`, 'content-type': 'application/json' }, JSON.stringify({ type: 'presence', users })));
  }

  private error(conn: BrokerConnection, code: string, message: string, destination: string, receiptId?: string): void {
    const sub = this.subscriptionOf(conn, '/user/queue/errors');
    if (sub === undefined) return;
    const headers: Record<string, string> = { destination: '/user/queue/errors', subscription: sub, 'message-id': `x${this.nextMessage++}`, 'content-type': 'application/json' };
    if (receiptId) headers['receipt-id'] = receiptId;
    conn.socket.deliver(encodeFrame('MESSAGE', headers, JSON.stringify({ type: 'error', code, message, destination })));
  }

  private subscriptionOf(conn: BrokerConnection, destination: string): string | undefined {
    for (const [id, dest] of conn.subs) if (dest === destination) return id;
    return undefined;
  }

  private roomView(room: RoomState, user: User): Room {
    const read = room.reads.get(user.id) ?? 0;
    const other = room.members.find((m) => m.id !== user.id);
    return {
      id: room.id,
      kind: room.kind,
      name: room.kind === 'direct' ? (other?.displayName ?? room.name) : room.name,
      members: room.members,
      lastMessage: room.messages.at(-1) ?? null,
      unread: room.messages.filter((m) => m.seq > read && m.sender.id !== user.id).length,
      lastReadSeq: read,
      lastRev: room.rev,
      unreadMentions: room.messages.filter((m) => m.seq > read && !m.deletedAt && m.mentions?.includes(user.id)).length,
      ...(room.muted?.has(user.id) ? { muted: true } : {}),
    };
  }
}
