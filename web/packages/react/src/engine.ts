//! What the hooks need from a chat engine, whatever the broker behind it. Two engines
//! implement it: `SotongChatClient` (the full sotong contract: server `seq`, `since-seq`
//! recovery, notification queue, read marks on the server) and `StompChatClient` (any STOMP
//! 1.2 broker: one topic per room, routing by visibility done here). The hooks and the
//! provider see only this interface, so an app moves between brokers by changing its provider.
import type { Connection } from './connection';
import type { MessageStore, SendExtras } from './messageStore';
import type { NotificationStore } from './notificationStore';
import type { ReadMarkStore } from './readMarks';
import type { PresenceStore } from './presenceStore';
import type { RoomStore } from './roomStore';
import type { ErrorEvent, NotificationEvent, Room, User } from './types';

/**
 * The server refused an edit or delete (or the engine cannot do them): `code` is the
 * contract's error code (`not_author`, `deleted`, `edit_window_closed`, `forbidden`,
 * `not_found`, `invalid`, `invalid_emoji`, `too_large`, `rate_limited`, or `unsupported` in plain STOMP mode),
 * for the app to word; `message` is the server's text, for logs.
 */
export class MessageActionError extends Error {
  constructor(
    readonly code: string,
    message: string = code,
  ) {
    super(message);
    this.name = 'MessageActionError';
  }
}

/** One chat session over one STOMP connection. */
export interface ChatClient {
  /** The signed-in user. */
  readonly me: User;
  /** The one STOMP connection. */
  readonly connection: Connection;
  /** Messages of every room seen, by room. */
  readonly messages: MessageStore;
  /** The user's rooms with unread counts. */
  readonly rooms: RoomStore;
  /** What is shown of messages for rooms not on screen. */
  readonly toasts: NotificationStore;
  /** Members' read marks of the rooms on screen (sotong; plain STOMP mode has none). */
  readonly readMarks?: ReadMarkStore;
  /** Presence of watched users (sotong only; a plain STOMP broker has none). */
  readonly presence?: PresenceStore;
  /** Connects (idempotent; cancels a `stop` of the same tick). */
  start(): void;
  /** Disconnects at the end of the tick unless `start` comes first (StrictMode-safe). */
  stop(): void;
  /** The room is on screen until the returned function is called (reference-counted). */
  watchRoom(roomId: number): () => void;
  /** Is the room on screen? */
  isVisible(roomId: number): boolean;
  /**
   * Sends a message optimistically; returns its client id, kept across retries. `extras`
   * (a reply, attachments) need a sotong server: plain STOMP mode sends the text only.
   */
  send(roomId: number, text: string, extras?: SendExtras): string;
  /** Sends a failed message again, with the same client id. */
  retry(roomId: number, clientMsgId: string): void;
  /**
   * Edits one of the user's messages: shown at once, confirmed by the server.
   *
   * # Errors
   * Rejects with a `MessageActionError` (the edit is then undone on screen).
   */
  editMessage(roomId: number, seq: number, text: string): Promise<void>;
  /**
   * Deletes one of the user's messages (it stays as a tombstone): shown at once, confirmed by the server.
   *
   * # Errors
   * Rejects with a `MessageActionError` (the message is then shown again).
   */
  deleteMessage(roomId: number, seq: number): Promise<void>;
  /**
   * Adds (`add` true) or takes back the user's reaction `emoji` to a message: shown at once,
   * confirmed by the server.
   *
   * # Errors
   * Rejects with a `MessageActionError` (the reaction is then undone on screen);
   * `unsupported` in plain STOMP mode.
   */
  react(roomId: number, seq: number, emoji: string, add: boolean): Promise<void>;
  /** Loads older history, where the broker or the app can give it. */
  loadOlder(roomId: number): Promise<void>;
  /** Tells the room's other members that the user is typing (throttled). */
  notifyTyping(roomId: number): void;
  /** Marks the room read up to the latest message known. */
  markRead(roomId: number): void;
  /** Adds or updates a room of the user (one just created or joined). */
  addRoom(room: Room): void;
  /** Forgets a room the user left (it leaves the list). */
  removeRoom(roomId: number): void;
  /** Every notification event (a message for a room not on screen, ...), after the stores took it. */
  onNotification(listener: (event: NotificationEvent) => void): () => void;
  /** Non-fatal errors the server reported (refused SUBSCRIBE, rate limits, ...). */
  onServerError(listener: (error: ErrorEvent) => void): () => void;
}
