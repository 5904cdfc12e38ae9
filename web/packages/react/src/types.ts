//! Wire types of the sotong contract (HTTP JSON and STOMP event bodies). Plain STOMP mode
//! uses the same shapes for what it shows, so that one set of hooks serves both modes. Ids are
//! JSON numbers but treated as opaque: destinations are built with `String(id)`.

/** A user as the server shows it. */
export interface User {
  id: number;
  username: string;
  displayName: string;
}

/** A stored chat message; `seq` starts at 1 in each room and grows by 1 with no gaps. */
export interface Message {
  id: number;
  roomId: number;
  seq: number;
  sender: User;
  text: string;
  /** RFC 3339. */
  sentAt: string;
  clientMsgId: string | null;
  /**
   * RFC 3339 commit time of the last edit, null if never edited. Absent from servers (and
   * plain brokers) without edits: read it as null.
   */
  editedAt?: string | null;
  /** Set on a tombstone: the message was deleted (its `text` is `""`); absent reads as null. */
  deletedAt?: string | null;
  /**
   * The room's revision of the message's last edit or delete (0: never changed; absent reads
   * as 0). A copy with a higher `rev` is newer, whatever order copies arrive in.
   */
  rev?: number;
}

/** What a `changed` event did to its message. */
export type MessageChange = 'edited' | 'deleted';

/** A room as seen by the caller (`name` of a direct room is the other member's name). */
export interface Room {
  id: number;
  kind: 'direct' | 'group';
  name: string;
  members: User[];
  lastMessage: Message | null;
  unread: number;
  lastReadSeq: number;
  /** The room's latest revision (edits and deletes); absent from servers without them. */
  lastRev?: number;
}

/** Events on `/topic/rooms/{id}`. */
export type RoomEvent =
  | { type: 'message'; message: Message }
  | { type: 'typing'; roomId: number; user: User }
  /** A message was edited or deleted: `message` is its full current state (a tombstone if deleted). */
  | { type: 'changed'; change: MessageChange; message: Message };

/** Events on `/user/queue/notifications`. */
export type NotificationEvent =
  | { type: 'message'; roomId: number; message: Message; unread: number }
  | { type: 'room'; room: Room }
  | { type: 'read'; roomId: number; seq: number }
  /** A message of a room not on screen was edited or deleted (full current state). */
  | { type: 'changed'; roomId: number; change: MessageChange; message: Message }
  /** Events may have been lost on their way here (`reason`: `broker`): reload what is shown. */
  | { type: 'resync'; reason: string };

/** Body of a MESSAGE on `/user/queue/errors`. */
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
  destination?: string;
}
