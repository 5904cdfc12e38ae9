//! Web Push: with no tab open, the server pushes new messages to this browser, and the service
//! worker (`/sw.js`) shows them. Once desktop notifications are permitted, the app registers the
//! worker, subscribes with the server's VAPID key (`GET /api/push/key`) and hands the
//! subscription to the server; on logout it takes it back, so a shared browser stops getting
//! the last user's messages. A server without Web Push (`404 push_disabled`), a browser without
//! service workers, or a push service that cannot be reached leaves the app as it was: the
//! in-page toasts and desktop notifications still work.
import type { Api } from '../../api/http';

/** Where the worker is served: the root, so its scope is the whole app. */
export const SERVICE_WORKER_URL = '/sw.js';

/** Whether this browser can do Web Push at all. */
export function pushSupported(): boolean {
  return typeof navigator !== 'undefined' && 'serviceWorker' in navigator && typeof window !== 'undefined' && 'PushManager' in window;
}

/** A base64url string (the VAPID key) as bytes, as `pushManager.subscribe` wants it. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const raw = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/**
 * Registers the worker and this browser's push subscription with the server, when the browser
 * can and notifications are permitted. Resolves to whether a subscription reached the server;
 * never rejects.
 */
export async function registerPush(api: Api): Promise<boolean> {
  if (!pushSupported() || typeof Notification === 'undefined' || Notification.permission !== 'granted') return false;
  try {
    const { publicKey } = await api.pushKey();
    const registration = await navigator.serviceWorker.register(SERVICE_WORKER_URL);
    await navigator.serviceWorker.ready;
    const existing = await registration.pushManager.getSubscription();
    const subscription =
      existing ??
      (await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(publicKey),
      }));
    await api.subscribePush(subscription.toJSON());
    return true;
  } catch {
    // No push service reachable, push disabled on the server, or a refused permission.
    return false;
  }
}

/** Takes this browser's push subscription back from the server and the push service. */
export async function unregisterPush(api: Api): Promise<void> {
  if (!pushSupported()) return;
  try {
    const registration = await navigator.serviceWorker.getRegistration(SERVICE_WORKER_URL);
    const subscription = await registration?.pushManager.getSubscription();
    if (!subscription) return;
    await api.unsubscribePush(subscription.endpoint).catch(() => {});
    await subscription.unsubscribe();
  } catch {
    // Nothing to take back.
  }
}
