//! Wire types of the sotong contract (HTTP JSON and STOMP event bodies), shared by the HTTP
//! client and the UI. They live in `@sotong/react`, whose engine parses them; the app
//! re-exports them so its own modules need not know where.
export type { Attachment, ErrorEvent, Message, NotificationEvent, Reaction, ReplyPreview, Room, RoomEvent, User } from '@sotong/react';
