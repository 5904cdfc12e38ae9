//! Page visibility, focus and desktop notifications under a test's control, installed with
//! `context.addInitScript(emulatePage)`: `window.setAway(true)` makes the page hidden and
//! unfocused (with the `blur` and `visibilitychange` a browser fires), `setAway(false)` brings
//! it back; every `new Notification(...)` is recorded in `window.raisedNotifications` (and the
//! object kept in `window.notificationObjects`, to click it), still shown as usual.

/** What the app raised: a notification's title and body. */
export interface Recorded {
  title: string;
  body: string | undefined;
}

declare global {
  interface Window {
    setAway(away: boolean): void;
    raisedNotifications: Recorded[];
    notificationObjects: Notification[];
  }
}

/** Installs the emulation (runs in the page: nothing from this module may be used inside). */
export function emulatePage(): void {
  let away = false;
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (away ? 'hidden' : 'visible') });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => away });
  document.hasFocus = () => !away;
  window.setAway = (next: boolean) => {
    away = next;
    if (next) window.dispatchEvent(new Event('blur'));
    document.dispatchEvent(new Event('visibilitychange'));
    if (!next) window.dispatchEvent(new Event('focus'));
  };
  window.raisedNotifications = [];
  window.notificationObjects = [];
  const Real = window.Notification;
  class RecordingNotification extends Real {
    constructor(title: string, options?: NotificationOptions) {
      super(title, options);
      window.raisedNotifications.push({ title, body: options?.body });
      window.notificationObjects.push(this);
    }
  }
  window.Notification = RecordingNotification;
}

