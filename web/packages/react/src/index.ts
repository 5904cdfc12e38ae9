//! # @sotong/react
//!
//! One STOMP connection behind a provider, reference-counted subscriptions restored after every
//! reconnect, and routing by visibility (the room on screen shows its messages, every other
//! room raises a notification), for sotong and for plain STOMP brokers.
//!
//! Layout:
//! - `connection.ts`: the one STOMP connection (state machine, backoff, token refresh, outbox).
//! - `registry.ts`: reference-counted subscription intents, replayed on every connect.
//! - `messageStore.ts`, `roomStore.ts`, `notificationStore.ts`: state outside React.
//! - `engine.ts`: what the hooks need of an engine; `sotongClient.ts` (sotong's contract) and
//!   `stompClient.ts` (any STOMP broker) implement it.
//! - `presenceStore.ts`: presence of the users components watch (`usePresence`).
//! - `pageVisibility.ts`: whether the page is seen (visible and focused); `useRoom` follows it.
//! - `provider.tsx`, `hooks.ts`: the React face (`SotongProvider`, `StompProvider`, `useRoom`,
//!   `useNotifications`, ...).
export {
  changesQuery,
  createSotongApi,
  fetchAttachment,
  httpStatus,
  SotongHttpError,
  uploadAttachment,
  type AttachmentRequestOptions,
  type UploadOptions,
  type ChangesQuery,
  type PageQuery,
  type SotongApi,
  type SotongApiOptions,
} from './api';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export {
  AUTH_ERROR_CODES,
  Connection,
  ERRORS_DESTINATION,
  type ConnectionOptions,
  type ConnectionStatus,
  type ReliableSend,
  type TokenProvider,
} from './connection';
export { MessageActionError, type ChatClient } from './engine';
export {
  useChatClient,
  useConnectionStatus,
  useActivityReport,
  useNotifications,
  usePageVisible,
  useReadMarks,
  usePresence,
  usePublish,
  useRoom,
  useRoomInfo,
  useRoomProblem,
  useRooms,
  useSubscription,
  type UseRoom,
  type UseRoomOptions,
} from './hooks';
export { pageVisibility } from './pageVisibility';
export { MAX_REPLAY, MessageStore, toggleReaction, type ChatMessage, type DeliveryState, type RoomView, type SendExtras } from './messageStore';
export { MAX_TOASTS, NotificationStore, type Toast } from './notificationStore';
export {
  ChatProvider,
  SotongProvider,
  StompProvider,
  type ChatProviderProps,
  type SotongProviderProps,
  type StompProviderProps,
} from './provider';
export { SubscriptionRegistry, type FrameHandler, type IncomingFrame, type SubscribeOptions, type SubscriptionTransport } from './registry';
export { ReadMarkStore, seenBy, unreadBy, type Readable, type ReadMark } from './readMarks';
export { PRESENCE_DESTINATION, PresenceStore, type PresenceState, type UserPresence } from './presenceStore';
export { RoomStore, type RoomActivity, type RoomProblem } from './roomStore';
export { CHANGES_PAGE_SIZE, NOTIFICATIONS_DESTINATION, PAGE_SIZE, roomTopic, SotongChatClient, type SotongChatClientOptions } from './sotongClient';
export {
  jsonCodec,
  StompChatClient,
  type StompChatClientOptions,
  type StompCodec,
  type StompDestinations,
  type StompMessage,
  type StompRoom,
  type StompRoomEvent,
} from './stompClient';
export type { Attachment, ErrorEvent, Message, MessageChange, NotificationEvent, Reaction, ReplyPreview, Room, RoomEvent, User } from './types';
