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
}

/** A room as seen by the caller (`name` of a direct room is the other member's name). */
export interface Room {
  id: number;
  kind: 'direct' | 'group';
  name: string;
  members: User[];
  lastMessage: Message | null;
  unread: number;
  lastReadSeq: number;
}

/** Events on `/topic/rooms/{id}`. */
export type RoomEvent =
  | { type: 'message'; message: Message }
  | { type: 'typing'; roomId: number; user: User };

/** Events on `/user/queue/notifications`. */
export type NotificationEvent =
  | { type: 'message'; roomId: number; message: Message; unread: number }
  | { type: 'room'; room: Room }
  | { type: 'read'; roomId: number; seq: number }
  /** Events may have been lost on their way here (`reason`: `broker`): reload what is shown. */
  | { type: 'resync'; reason: string };

/** Body of a MESSAGE on `/user/queue/errors`. */
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
  destination?: string;
}
