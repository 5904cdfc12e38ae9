//! "Turn on desktop notifications": a small prompt shown after sign-in while the browser has
//! not been asked yet. The permission is requested only from its button (a user gesture),
//! never on page load; either answer, or "Not now", hides it for good (remembered per user).
import { useState } from 'react';
import { useT } from '../../i18n';
import { useApi } from '../../app/ApiContext';
import { registerPush } from './push';

/** Where the answer is remembered, per user. */
export const promptKey = (userId: number): string => `sotong.notifications-prompt.${String(userId)}`;

function shouldAsk(userId: number): boolean {
  if (typeof Notification === 'undefined' || Notification.permission !== 'default') return false;
  try {
    return localStorage.getItem(promptKey(userId)) === null;
  } catch {
    return true;
  }
}

function remember(userId: number, answer: string): void {
  try {
    localStorage.setItem(promptKey(userId), answer);
  } catch {
    // Storage is off (private mode): the prompt may come back next time.
  }
}

/** Props of `NotificationPrompt`. */
export interface NotificationPromptProps {
  userId: number;
}

/** The prompt, or nothing once answered, dismissed, or not supported. */
export function NotificationPrompt({ userId }: NotificationPromptProps) {
  const api = useApi();
  const [open, setOpen] = useState(() => shouldAsk(userId));
  const { t } = useT();
  if (!open) return null;
  const turnOn = () => {
    setOpen(false);
    remember(userId, 'asked');
    // Once permitted, the server may also push while no tab is open (when it offers a key).
    void Notification.requestPermission()
      .then((answer) => (answer === 'granted' ? registerPush(api) : false))
      .catch(() => {});
  };
  const notNow = () => {
    setOpen(false);
    remember(userId, 'dismissed');
  };
  return (
    <div className="notify-prompt" role="region" aria-label={t('notify.region')}>
      <p>{t('notify.text')}</p>
      <div className="notify-prompt-actions">
        <button type="button" className="button primary" onClick={turnOn}>
          {t('notify.turnOn')}
        </button>
        <button type="button" className="button ghost" onClick={notNow}>
          {t('notify.notNow')}
        </button>
      </div>
    </div>
  );
}
