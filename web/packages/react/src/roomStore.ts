//! The room list: every room of the user with its last message and unread count, latest
//! activity first. Seeded by `GET /api/rooms` (the snapshot of rule 7, fetched again after
//! every reconnect) and kept current by live events.
import type { Message, Room, User } from './types';

/** How a live message changes its room's entry. */
export interface RoomActivity {
  /** The room is on screen: it stays read. */
  visible: boolean;
  /** The server's unread count (notification events carry it). */
  unread?: number;
  /** The viewer sent it (from this or another device): no unread bump. */
  fromMe: boolean;
  /** It mentions the viewer: `unreadMentions` grows with `unread`. */
  mention?: boolean;
}

/** Why a room cannot be shown: the server answered `403` (not a member) or `404` (no such room). */
export type RoomProblem = 'forbidden' | 'not_found';

/** The user's rooms. */
export class RoomStore {
  private readonly rooms = new Map<number, Room>();
  private order: number[] = [];
  private snapshot: readonly Room[] | null = null;
  private readonly listeners = new Set<() => void>();
  private loaded = false;
  private readonly unavailable = new Map<number, RoomProblem>();

  /** Listens to any change (shaped for `useSyncExternalStore`). */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Rooms, latest activity first; the same array until something changes. */
  getSnapshot = (): readonly Room[] => {
    this.snapshot ??= this.order.map((id) => this.rooms.get(id)).filter((r): r is Room => r !== undefined);
    return this.snapshot;
  };

  /** Whether the first snapshot arrived. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** One room, if known. */
  get(roomId: number): Room | undefined {
    return this.rooms.get(roomId);
  }

  /**
   * Replaces the list with the server's snapshot, keeping a live last message that is newer
   * than the snapshot's (an event that overtook the HTTP answer).
   */
  setAll(rooms: readonly Room[]): void {
    const next = new Map<number, Room>();
    for (const room of rooms) {
      const local = this.rooms.get(room.id);
      next.set(room.id, local && isAhead(local, room) ? { ...room, lastMessage: local.lastMessage, unread: local.unread, unreadMentions: local.unreadMentions } : room);
    }
    this.rooms.clear();
    for (const [id, room] of next) {
      this.rooms.set(id, room);
      this.unavailable.delete(id);
    }
    this.order = [...next.values()]
      .map((room, index) => ({ room, index }))
      .sort((a, b) => activity(b.room) - activity(a.room) || a.index - b.index)
      .map(({ room }) => room.id);
    this.loaded = true;
    this.changed();
  }

  /** Why the room cannot be shown, if the server refused it (and it has not appeared since). */
  problem(roomId: number): RoomProblem | undefined {
    return this.unavailable.get(roomId);
  }

  /** The server refused the room (a deep link to someone else's room, or to none). */
  markUnavailable(roomId: number, problem: RoomProblem): void {
    if (this.rooms.has(roomId) || this.unavailable.get(roomId) === problem) return;
    this.unavailable.set(roomId, problem);
    this.changed();
  }

  /** Adds a room or refreshes its details (a `room` event, a new direct message, a `GET`). */
  upsert(room: Room): void {
    this.unavailable.delete(room.id);
    const local = this.rooms.get(room.id);
    const keepLocal = local && isAhead(local, room);
    this.rooms.set(room.id, keepLocal ? { ...room, lastMessage: local.lastMessage, unread: local.unread, unreadMentions: local.unreadMentions } : room);
    if (!local) this.order = [room.id, ...this.order];
    this.changed();
  }

  /**
   * A user changed their display name (a `user` event): every room that has them as a member
   * shows the new name, and a direct room with them is named after it.
   */
  updateUser(user: User): void {
    let any = false;
    for (const [id, room] of this.rooms) {
      if (!room.members.some((m) => m.id === user.id)) continue;
      const members = room.members.map((m) => (m.id === user.id ? user : m));
      const namedAfter = room.kind === 'direct' && room.members.length === 2 && room.members.some((m) => m.id !== user.id);
      this.rooms.set(id, { ...room, members, name: namedAfter ? user.displayName : room.name });
      any = true;
    }
    if (any) this.changed();
  }

  /** The user left the room: it leaves the list. */
  remove(roomId: number): void {
    if (!this.rooms.delete(roomId)) return;
    this.order = this.order.filter((id) => id !== roomId);
    this.changed();
  }

  /** A live message: the room moves to the top, its preview and unread count follow. */
  noteMessage(message: Message, activityInfo: RoomActivity): void {
    const room = this.rooms.get(message.roomId);
    if (!room) return;
    const isNewer = (room.lastMessage?.seq ?? 0) < message.seq;
    let unread = room.unread;
    if (activityInfo.visible) unread = 0;
    else if (activityInfo.unread !== undefined) unread = activityInfo.unread;
    else if (isNewer && !activityInfo.fromMe) unread = room.unread + 1;
    let unreadMentions = room.unreadMentions;
    if (activityInfo.visible) unreadMentions &&= 0;
    else if (isNewer && activityInfo.mention && !activityInfo.fromMe) unreadMentions = (unreadMentions ?? 0) + 1;
    if (!isNewer && unread === room.unread && unreadMentions === room.unreadMentions) return;
    this.rooms.set(room.id, { ...room, lastMessage: isNewer ? message : room.lastMessage, unread, unreadMentions });
    if (isNewer) this.order = [room.id, ...this.order.filter((id) => id !== room.id)];
    this.changed();
  }

  /**
   * A message was edited or deleted: if it is the room's last message, the preview follows
   * (the room keeps its place and its unread count). Returns whether the preview changed.
   */
  noteChange(message: Message): boolean {
    const room = this.rooms.get(message.roomId);
    if (!room) return false;
    const last = room.lastMessage;
    const lastRev = Math.max(room.lastRev ?? 0, message.rev ?? 0);
    const newer = last?.seq === message.seq && (message.rev ?? 0) > (last.rev ?? 0);
    if (!newer && lastRev === (room.lastRev ?? 0)) return false;
    this.rooms.set(room.id, { ...room, lastMessage: newer ? message : last, lastRev });
    this.changed();
    return newer;
  }

  /**
   * The room was read up to `seq` (here or on another device). Returns false when the
   * unread count cannot be derived locally (messages past `seq` exist) and should be fetched.
   */
  markRead(roomId: number, seq: number): boolean {
    const room = this.rooms.get(roomId);
    if (!room) return true;
    const lastSeq = room.lastMessage?.seq ?? 0;
    const lastReadSeq = Math.max(room.lastReadSeq, seq);
    const unread = lastReadSeq >= lastSeq ? 0 : room.unread;
    const unreadMentions = lastReadSeq >= lastSeq ? room.unreadMentions && 0 : room.unreadMentions;
    if (unread !== room.unread || lastReadSeq !== room.lastReadSeq || unreadMentions !== room.unreadMentions) {
      this.rooms.set(roomId, { ...room, lastReadSeq, unread, unreadMentions });
      this.changed();
    }
    return lastReadSeq >= lastSeq;
  }

  private changed(): void {
    this.snapshot = null;
    for (const listener of [...this.listeners]) listener();
  }
}

/** The local copy's last message is newer than the server's (a later seq, or a later change of it). */
function isAhead(local: Room, server: Room): boolean {
  const localSeq = local.lastMessage?.seq ?? 0;
  const serverSeq = server.lastMessage?.seq ?? 0;
  return localSeq > serverSeq || (localSeq === serverSeq && (local.lastMessage?.rev ?? 0) > (server.lastMessage?.rev ?? 0));
}

function activity(room: Room): number {
  return room.lastMessage ? Date.parse(room.lastMessage.sentAt) || 0 : 0;
}
