//! The hooks through which components use the realtime layer. Components never see the
//! socket: they read stores (`useSyncExternalStore`) and declare intents (`useRoom` keeps a
//! room subscribed and visible while mounted).
import { useCallback, useContext, useEffect, useRef, useSyncExternalStore } from 'react';
import type { ConnectionStatus } from './connection';
import type { ChatClient } from './engine';
import { RealtimeContext } from './context';
import { pageVisibility } from './pageVisibility';
import type { RoomView, SendExtras } from './messageStore';
import type { Toast } from './notificationStore';
import type { UserPresence } from './presenceStore';
import type { RoomProblem } from './roomStore';
import type { IncomingFrame } from './registry';
import type { Attachment, NotificationEvent, Room } from './types';

/**
 * The session's chat engine (`SotongChatClient` or `StompChatClient`).
 *
 * # Errors
 * Throws when called outside a provider.
 */
export function useChatClient(): ChatClient {
  const value = useContext(RealtimeContext);
  if (!value) throw new Error('useChatClient/useRoom/useNotifications must be used inside <ChatProvider> (or <SotongProvider>, <StompProvider>)');
  return value.client;
}

/** `disconnected | connecting | connected`, re-rendering on change. */
export function useConnectionStatus(): ConnectionStatus {
  const connection = useChatClient().connection;
  return useSyncExternalStore(connection.subscribeStatus, () => connection.status);
}

/**
 * Subscribes to any destination while mounted (ref-counted with every other subscriber of
 * it). The latest `onMessage` is called; the subscription only changes with `destination`.
 */
export function useSubscription(destination: string, onMessage: (frame: IncomingFrame) => void): void {
  const client = useChatClient();
  const latest = useRef(onMessage);
  useEffect(() => {
    latest.current = onMessage;
  });
  useEffect(() => client.connection.subscribe(destination, (frame) => latest.current(frame)), [client, destination]);
}

/** Fire-and-forget SEND; returns whether it went out (false while disconnected). */
export function usePublish(): (destination: string, body: unknown) => boolean {
  const client = useChatClient();
  return useCallback((destination: string, body: unknown) => client.connection.publish(destination, JSON.stringify(body)), [client]);
}

/** What `useRoom` gives a chat view. */
export interface UseRoom extends RoomView {
  room: Room | undefined;
  /** Sends a message (shown at once as pending), with a reply or attachments; returns its client id. */
  send(text: string, extras?: SendExtras): string;
  /** Sends a reply to the message at `toSeq` (sotong), with attachments if given; returns its client id. */
  reply(text: string, toSeq: number, attachments?: Attachment[]): string;
  /**
   * Adds (`add` true) or takes back the user's reaction to a message (shown at once). Rejects
   * with a `MessageActionError` when refused (`invalid_emoji`, `too_large`, `deleted`, ...).
   */
  react(seq: number, emoji: string, add: boolean): Promise<void>;
  /** Sends a failed message again with the same client id, so it is stored once. */
  retry(clientMsgId: string): void;
  /**
   * Edits one of the user's messages (shown at once). Rejects with a `MessageActionError`
   * whose `code` says why the server refused; the message then shows as before.
   */
  edit(seq: number, text: string): Promise<void>;
  /** Deletes one of the user's messages (a tombstone stays). Rejects like `edit`. */
  remove(seq: number): Promise<void>;
  loadOlder(): Promise<void>;
  /** Tells the room's other members that the user is typing (throttled). */
  notifyTyping(): void;
  /** Marks the room read up to its latest message (done by itself while the room is on screen). */
  markRead(): void;
}

/** Options of `useRoom`. */
export interface UseRoomOptions {
  /**
   * Whether the room is on screen (default true). A mounted view that is hidden (a collapsed
   * panel, an inactive tab of the app) passes false: its messages then raise notifications.
   */
  visible?: boolean;
  /**
   * Whether the room is on screen only while the page is seen (default true): visible and
   * focused (`usePageVisible`). While the tab is hidden or another window is in front, the
   * room is released, so its messages stay unread and raise notifications; when the page is
   * seen again the room is acquired again, caught up and marked read. Pass false for a view
   * that counts as read whenever it is mounted (a kiosk, a test harness).
   */
  followPage?: boolean;
}

/**
 * Whether the page is seen: the document is visible and its window focused. Re-renders on
 * change (`visibilitychange`, `focus`, `blur`).
 */
export function usePageVisible(): boolean {
  return useSyncExternalStore(pageVisibility.subscribe, pageVisibility.getSnapshot, () => true);
}

/**
 * Shows a room: while mounted, `visible` and the page seen (see `followPage`) the room is on
 * screen (its messages are shown here, not toasted) and its topic subscribed; the view
 * re-renders on every change of its messages.
 */
export function useRoom(roomId: number, options: UseRoomOptions = {}): UseRoom {
  const client = useChatClient();
  const pageVisible = usePageVisible();
  const visible = (options.visible ?? true) && (pageVisible || options.followPage === false);
  useEffect(() => (visible ? client.watchRoom(roomId) : undefined), [client, roomId, visible]);
  const subscribe = useCallback((listener: () => void) => client.messages.subscribe(roomId, listener), [client, roomId]);
  const view = useSyncExternalStore(subscribe, () => client.messages.getSnapshot(roomId));
  const room = useRoomInfo(roomId);
  const send = useCallback((text: string, extras?: SendExtras) => client.send(roomId, text, extras), [client, roomId]);
  const reply = useCallback(
    (text: string, toSeq: number, attachments?: Attachment[]) =>
      client.send(roomId, text, { replyTo: client.messages.replyPreview(roomId, toSeq) ?? { seq: toSeq, sender: client.me, text: '' }, attachments }),
    [client, roomId],
  );
  const react = useCallback((seq: number, emoji: string, add: boolean) => client.react(roomId, seq, emoji, add), [client, roomId]);
  const retry = useCallback((clientMsgId: string) => client.retry(roomId, clientMsgId), [client, roomId]);
  const edit = useCallback((seq: number, text: string) => client.editMessage(roomId, seq, text), [client, roomId]);
  const remove = useCallback((seq: number) => client.deleteMessage(roomId, seq), [client, roomId]);
  const loadOlder = useCallback(() => client.loadOlder(roomId), [client, roomId]);
  const notifyTyping = useCallback(() => client.notifyTyping(roomId), [client, roomId]);
  const markRead = useCallback(() => client.markRead(roomId), [client, roomId]);
  return { ...view, room, send, reply, react, retry, edit, remove, loadOlder, notifyTyping, markRead };
}

const NO_PRESENCE = (): (() => void) => () => {};

/**
 * The presence of `userId` (sotong), watched while mounted (reference-counted with every
 * other watcher of that user): `undefined` until the server answered, and always with a plain
 * STOMP broker, or without a user.
 */
export function usePresence(userId: number | undefined): UserPresence | undefined {
  const presence = useChatClient().presence;
  useEffect(() => (presence && userId !== undefined ? presence.watch(userId) : undefined), [presence, userId]);
  return useSyncExternalStore(presence?.subscribe ?? NO_PRESENCE, () => (userId === undefined ? undefined : presence?.get(userId)));
}

/**
 * Reports whether the user is using the page (sotong): `away` after `idleMs` without input
 * or while the page is hidden, `active` again on input with the page visible.
 */
export function useActivityReport(idleMs = 5 * 60_000): void {
  const presence = useChatClient().presence;
  useEffect(() => {
    if (!presence) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const away = () => presence.report('away');
    const active = () => {
      clearTimeout(timer);
      if (document.visibilityState === 'hidden') return away();
      presence.report('active');
      timer = setTimeout(away, idleMs);
    };
    const events = ['visibilitychange', 'pointerdown', 'keydown', 'mousemove', 'wheel', 'touchstart'];
    for (const event of events) document.addEventListener(event, active, { passive: true });
    active();
    return () => {
      clearTimeout(timer);
      for (const event of events) document.removeEventListener(event, active);
    };
  }, [presence, idleMs]);
}

/** The user's rooms, latest activity first. */
export function useRooms(): readonly Room[] {
  const rooms = useChatClient().rooms;
  return useSyncExternalStore(rooms.subscribe, rooms.getSnapshot);
}

/** One room of the list, if known. */
export function useRoomInfo(roomId: number): Room | undefined {
  const rooms = useChatClient().rooms;
  return useSyncExternalStore(rooms.subscribe, () => rooms.get(roomId));
}

const NO_MARKS: ReadonlyMap<number, number> = new Map();
const noChange = (): (() => void) => () => {};

/**
 * Members' read marks in a room on screen (user id to last `seq` read), re-rendering when one
 * moves; empty in plain STOMP mode. Count with `unreadBy` / `seenBy`.
 */
export function useReadMarks(roomId: number): ReadonlyMap<number, number> {
  const marks = useChatClient().readMarks;
  return useSyncExternalStore(marks?.subscribe ?? noChange, () => marks?.get(roomId) ?? NO_MARKS);
}

/** Why a room cannot be shown (`403` not a member, `404` none), once the server said so. */
export function useRoomProblem(roomId: number): RoomProblem | undefined {
  const rooms = useChatClient().rooms;
  return useSyncExternalStore(rooms.subscribe, () => rooms.problem(roomId));
}

/** The toasts on screen, and an optional listener of every notification event. */
export function useNotifications(onEvent?: (event: NotificationEvent) => void): {
  toasts: readonly Toast[];
  dismiss(id: number): void;
} {
  const client = useChatClient();
  const latest = useRef(onEvent);
  useEffect(() => {
    latest.current = onEvent;
  });
  useEffect(() => client.onNotification((event) => latest.current?.(event)), [client]);
  const toasts = useSyncExternalStore(client.toasts.subscribe, client.toasts.getSnapshot);
  const dismiss = useCallback((id: number) => client.toasts.dismiss(id), [client]);
  return { toasts, dismiss };
}
