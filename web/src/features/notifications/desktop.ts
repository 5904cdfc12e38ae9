//! The page when the user is away: the tab title counts unread messages (`(3) sotong`), and a
//! desktop notification (Notification API, once permitted) says who wrote what for every
//! message that arrives while the page is hidden or its window unfocused. Clicking one focuses
//! the tab and opens its room; coming back closes the ones still shown. Permission is never
//! asked here: `NotificationPrompt` asks on a click.
import { pageVisibility, useChatClient, usePageVisible, useRooms, type NotificationEvent } from '@sotong/react';
import { useEffect, useRef } from 'react';
import type { User } from '../../api/types';
import { navigate, roomPath } from '../../app/router';

/** The app's name, the tab title when nothing is unread. */
export const APP_TITLE = 'sotong';

/** The tab title for `unread` unread messages. */
export function titleFor(unread: number): string {
  return unread > 0 ? `(${String(unread)}) ${APP_TITLE}` : APP_TITLE;
}

/** Keeps the tab title counting the unread messages of every room. */
export function useUnreadTitle(): void {
  const rooms = useRooms();
  const unread = rooms.reduce((sum, room) => sum + room.unread, 0);
  useEffect(() => {
    document.title = titleFor(unread);
  }, [unread]);
  useEffect(() => () => void (document.title = APP_TITLE), []);
}

/** Can this browser show desktop notifications, and may the page? */
export function desktopNotificationsAllowed(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'granted';
}

/** Raises a desktop notification for each message that arrives while the page is not seen. */
export function useDesktopNotifications(me: User): void {
  const client = useChatClient();
  const pageVisible = usePageVisible();
  const shown = useRef(new Set<Notification>());
  useEffect(
    () =>
      client.onNotification((event: NotificationEvent) => {
        if (event.type !== 'message' || event.message.sender.id === me.id) return;
        if (pageVisibility.getSnapshot() || !desktopNotificationsAllowed()) return;
        const { message, roomId } = event;
        const room = client.rooms.get(roomId);
        const mention = event.mention ?? message.mentions?.includes(me.id) ?? false;
        const where = room?.kind === 'group' ? ` in ${room.name}` : '';
        const title = mention ? `${message.sender.displayName} mentioned you${where}` : `${message.sender.displayName}${where}`;
        let notification: Notification;
        try {
          notification = new Notification(title, { body: message.text || '📎 Sent a file', tag: `sotong-room-${String(roomId)}` });
        } catch {
          return; // Some browsers only allow notifications from a service worker.
        }
        shown.current.add(notification);
        notification.onclose = () => shown.current.delete(notification);
        notification.onclick = () => {
          window.focus();
          navigate(roomPath(roomId));
          notification.close();
        };
      }),
    [client, me.id],
  );
  // Back on the page: what the notifications said is on screen or in the list now.
  useEffect(() => {
    if (!pageVisible) return;
    for (const notification of shown.current) notification.close();
    shown.current.clear();
  }, [pageVisible]);
}
