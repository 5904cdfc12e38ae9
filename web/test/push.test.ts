//! Web Push registration: the VAPID key's decoding, what is sent to the server once
//! notifications are permitted, nothing without permission or when the server has no push,
//! and the subscription taken back on logout.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Api } from '../src/api/http';
import { base64UrlToBytes, registerPush, unregisterPush } from '../src/features/notifications/push';

const subscription = { endpoint: 'https://push.example/abc', toJSON: () => ({ endpoint: 'https://push.example/abc', keys: { p256dh: 'p', auth: 'a' } }), unsubscribe: vi.fn(() => Promise.resolve(true)) };

function fakeBrowser(permission: NotificationPermission, existing: typeof subscription | null = null) {
  const pushManager = { getSubscription: vi.fn(() => Promise.resolve(existing)), subscribe: vi.fn(() => Promise.resolve(subscription)) };
  const registration = { pushManager };
  vi.stubGlobal('Notification', { permission });
  vi.stubGlobal('PushManager', function PushManager() {});
  Object.defineProperty(navigator, 'serviceWorker', {
    configurable: true,
    value: { register: vi.fn(() => Promise.resolve(registration)), ready: Promise.resolve(registration), getRegistration: vi.fn(() => Promise.resolve(registration)) },
  });
  return pushManager;
}

function fakeApi(pushKey: () => Promise<{ publicKey: string }> = () => Promise.resolve({ publicKey: 'BAEC' })) {
  return { pushKey: vi.fn(pushKey), subscribePush: vi.fn(() => Promise.resolve()), unsubscribePush: vi.fn(() => Promise.resolve()) } as unknown as Api & {
    subscribePush: ReturnType<typeof vi.fn>;
    unsubscribePush: ReturnType<typeof vi.fn>;
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
  Reflect.deleteProperty(navigator, 'serviceWorker');
});

describe('Web Push registration', () => {
  it('decodes a base64url VAPID key, padding or not', () => {
    expect([...base64UrlToBytes('BAEC')]).toEqual([4, 1, 2]);
    expect([...base64UrlToBytes('-_8')]).toEqual([251, 255]);
  });

  it('subscribes with the server key and hands the subscription to the server once permitted', async () => {
    const pushManager = fakeBrowser('granted');
    const api = fakeApi();
    expect(await registerPush(api)).toBe(true);
    expect(pushManager.subscribe).toHaveBeenCalledWith({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes('BAEC') });
    expect(api.subscribePush).toHaveBeenCalledWith(subscription.toJSON());
  });

  it('does nothing without permission, and nothing when the server has no push', async () => {
    fakeBrowser('default');
    const api = fakeApi();
    expect(await registerPush(api)).toBe(false);
    expect(api.pushKey).not.toHaveBeenCalled();
    const pushManager = fakeBrowser('granted');
    const disabled = fakeApi(() => Promise.reject(new Error('push_disabled')));
    expect(await registerPush(disabled)).toBe(false);
    expect(pushManager.subscribe).not.toHaveBeenCalled();
  });

  it('takes the subscription back from the server and the browser on logout', async () => {
    fakeBrowser('granted', subscription);
    const api = fakeApi();
    await unregisterPush(api);
    expect(api.unsubscribePush).toHaveBeenCalledWith('https://push.example/abc');
    expect(subscription.unsubscribe).toHaveBeenCalled();
  });
});
