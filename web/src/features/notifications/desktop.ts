//! The page when the user is away: the tab title counts unread messages (`(3) sotong`), and a
//! desktop notification (Notification API, once permitted) says who wrote what for every
//! message that arrives while the page is hidden or its window unfocused. Clicking one focuses
//! the tab and opens its room; coming back closes the ones still shown. Permission is never
//! asked here: `NotificationPrompt` asks on a click.
import { pageVisibility, useChatClient, usePageVisible, useRooms, type Toast } from '@sotong/react';
import { useEffect, useRef } from 'react';
import { navigate, roomPath } from '../../app/router';
import { t } from '../../i18n';

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

/**
 * Raises a desktop notification for each message toasted while the page is not seen. Toasts
 * are where the realtime layer routes every message of a room not on screen, whatever channel
 * brought it, so following them misses none and raises none for a room on screen.
 */
export function useDesktopNotifications(): void {
  const client = useChatClient();
  const pageVisible = usePageVisible();
  const shown = useRef(new Set<Notification>());
  useEffect(() => {
    const toasts = client.toasts;
    let lastId = Math.max(0, ...toasts.getSnapshot().map((t) => t.id));
    return toasts.subscribe(() => {
      const fresh = toasts.getSnapshot().filter((t) => t.id > lastId);
      lastId = Math.max(lastId, ...fresh.map((t) => t.id));
      if (pageVisibility.getSnapshot() || !desktopNotificationsAllowed()) return;
      for (const toast of fresh) raise(toast, shown.current);
    });
  }, [client]);
  // Back on the page: what the notifications said is on screen or in the list now.
  useEffect(() => {
    if (!pageVisible) return;
    for (const notification of shown.current) notification.close();
    shown.current.clear();
  }, [pageVisible]);
}

/** One desktop notification for a toast; clicking it focuses the tab and opens the room. */
function raise(toast: Toast, shown: Set<Notification>): void {
  const vars = { sender: toast.sender.displayName, room: toast.roomName };
  const group = toast.roomKind === 'group';
  const title = toast.mention ? t(group ? 'desktop.mentionedInRoom' : 'desktop.mentioned', vars) : t(group ? 'desktop.titleInRoom' : 'desktop.title', vars);
  let notification: Notification;
  try {
    notification = new Notification(title, { body: toast.text || t('toast.file'), tag: `sotong-room-${String(toast.roomId)}` });
  } catch {
    return; // Some browsers only allow notifications from a service worker.
  }
  shown.add(notification);
  notification.onclose = () => shown.delete(notification);
  notification.onclick = () => {
    window.focus();
    navigate(roomPath(toast.roomId));
    notification.close();
  };
}
