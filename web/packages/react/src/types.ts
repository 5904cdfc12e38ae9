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
  /** The message this one answers (a preview of it); absent when it answers none. */
  replyTo?: ReplyPreview;
  /** Reactions, each emoji in the order it was first used; absent when none. */
  reactions?: Reaction[];
  /** Ids of the room members the text mentions (`@username`); absent when none. */
  mentions?: number[];
  /** Files sent with the message; absent when none. */
  attachments?: Attachment[];
}

/**
 * What a reply shows of the message it answers: live events carry its state when the reply
 * was sent, history its current state (a client holding the original shows its own copy).
 */
export interface ReplyPreview {
  seq: number;
  sender: User;
  /** The first 200 characters of the original's text. */
  text: string;
  editedAt?: string | null;
  deletedAt?: string | null;
  /** How many attachments the original has (absent: none). */
  attachments?: number;
}

/** One emoji's reactions to a message; `userIds` in the order they reacted. */
export interface Reaction {
  emoji: string;
  count: number;
  userIds: number[];
}

/** An uploaded file (`POST /api/rooms/{id}/attachments`), sent with a message by its `id`. */
export interface Attachment {
  id: number;
  name: string;
  /** Found by the server from the bytes, not from the name. */
  contentType: string;
  /** Bytes. */
  size: number;
  /** Set for images (PNG, JPEG, GIF, WebP), which have a thumbnail. */
  image?: { width: number; height: number };
}

/** What a `changed` event did to its message. */
export type MessageChange = 'edited' | 'deleted' | 'reacted';

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
  /** Unread messages that mention the viewer (absent from servers without mentions). */
  unreadMentions?: number;
  /** The viewer muted the room: no toast for its messages unless they mention the viewer. */
  muted?: boolean;
}

/** Events on `/topic/rooms/{id}`. */
export type RoomEvent =
  | { type: 'message'; message: Message }
  | { type: 'typing'; roomId: number; user: User }
  /** A message was edited, deleted or reacted to: `message` is its full current state (a tombstone if deleted). */
  | { type: 'changed'; change: MessageChange; message: Message }
  /** A member's read mark moved (sotong, to subscriptions with `receipts: true`). */
  | { type: 'read'; roomId: number; userId: number; seq: number };

/** Events on `/user/queue/notifications`. */
export type NotificationEvent =
  /**
   * `mention`: the message mentions the viewer (alert even where the app would stay quiet).
   * `muted`: the viewer muted the room and is not mentioned: count it, stay quiet.
   */
  | { type: 'message'; roomId: number; message: Message; unread: number; mention?: boolean; muted?: boolean }
  | { type: 'room'; room: Room }
  | { type: 'read'; roomId: number; seq: number }
  /** A message of a room not on screen was edited, deleted or reacted to (full current state). */
  | { type: 'changed'; roomId: number; change: MessageChange; message: Message }
  /** Events may have been lost on their way here (`reason`: `broker`): reload what is shown. */
  | { type: 'resync'; reason: string }
  /** Someone who shares a room with the user (or the user, elsewhere) changed their display name. */
  | { type: 'user'; user: User };

/** Body of a MESSAGE on `/user/queue/errors`. */
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
  destination?: string;
}
