/* global self */
// sotong's service worker: shows a Web Push from the server as a notification when no tab is
// open (or none shows the room), and opens the room on a click. The payload is the contract's
// push payload: {"type":"message","roomId","seq","sender":{…},"text","sentAt","count","mention"}.
// One notification per room (tag `sotong-room-ID`, as the page's own notifications): a newer
// push replaces it, and a mention alerts again (`renotify`).

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload || payload.type !== 'message') return;
  const sender = (payload.sender && payload.sender.displayName) || 'sotong';
  const count = Number(payload.count) || 1;
  const title = payload.mention ? `${sender} (@)` : sender;
  const body = count > 1 ? `${payload.text}\n(+${String(count - 1)})` : payload.text;
  event.waitUntil(
    self.registration.showNotification(title, {
      body,
      tag: `sotong-room-${String(payload.roomId)}`,
      renotify: Boolean(payload.mention),
      data: { roomId: payload.roomId },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const roomId = event.notification.data && event.notification.data.roomId;
  const path = roomId ? `/rooms/${String(roomId)}` : '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin !== self.location.origin) continue;
        await client.focus();
        if ('navigate' in client) await client.navigate(path);
        return;
      }
      await self.clients.openWindow(path);
    })(),
  );
});
