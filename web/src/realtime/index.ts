//! # The realtime layer
//!
//! Usable without the UI. Layout:
//! - `connection.ts`: the one STOMP connection (state machine, backoff, auth path, outbox).
//! - `registry.ts`: reference-counted subscription intents, replayed on every connect.
//! - `messageStore.ts`, `roomStore.ts`, `notificationStore.ts`: global state outside React.
//! - `chatClient.ts`: the engine joining them (routing by visibility, optimistic sends).
//! - `WebSocketProvider.tsx`, `hooks.ts`: the React face (`useRoom`, `useNotifications`, ...).
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { ChatClient, NOTIFICATIONS_DESTINATION, PAGE_SIZE, roomTopic, type ChatClientOptions } from './chatClient';
export { AUTH_ERROR_CODES, Connection, ERRORS_DESTINATION, type ConnectionOptions, type ConnectionStatus, type ReliableSend } from './connection';
export {
  useChatClient,
  useConnectionStatus,
  useNotifications,
  usePublish,
  useRoom,
  useRoomInfo,
  useRoomProblem,
  useRooms,
  useSubscription,
  type UseRoom,
} from './hooks';
export { MessageStore, type ChatMessage, type DeliveryState, type RoomView } from './messageStore';
export { NotificationStore, type Toast } from './notificationStore';
export { SubscriptionRegistry, type FrameHandler, type IncomingFrame, type SubscribeOptions, type SubscriptionTransport } from './registry';
export { RoomStore, type RoomProblem } from './roomStore';
export { RealtimeProvider, WebSocketProvider, type WebSocketProviderProps } from './WebSocketProvider';
