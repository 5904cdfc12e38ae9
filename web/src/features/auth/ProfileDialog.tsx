//! The user's profile, opened from the top bar: the display name (others who share a room see
//! the new one live), a password change (this session stays; the server logs out every other
//! one) and "Log out everywhere" (every session of the account, this one included, on every
//! device; the app then shows the login screen).
import { useState, type FormEvent } from 'react';
import { ApiError } from '../../api/http';
import type { User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { t, useT, type MessageKey } from '../../i18n';
import { Dialog } from '../../ui/Dialog';

/** Props of `ProfileDialog`. */
export interface ProfileDialogProps {
  me: User;
  /** The server accepted a new display name. */
  onProfileChange(user: User): void;
  /** Every session ended (log out everywhere): the app goes back to the login screen. */
  onLoggedOutEverywhere(): void;
  onClose(): void;
}

/** What the person reads when a profile change is refused: by the contract's code. */
export function describeProfileError(error: unknown, field: 'name' | 'password'): string {
  const code = error instanceof ApiError ? error.code : '';
  const keys: Record<string, MessageKey> = {
    wrong_password: 'profile.error.wrongPassword',
    no_password: 'profile.error.noPassword',
    invalid: field === 'name' ? 'profile.error.invalidName' : 'profile.error.shortPassword',
    rate_limited: 'profile.error.rateLimited',
  };
  return t(keys[code] ?? 'profile.error.other');
}

/** The dialog. */
export function ProfileDialog({ me, onProfileChange, onLoggedOutEverywhere, onClose }: ProfileDialogProps) {
  const api = useApi();
  const { t } = useT();
  const [name, setName] = useState(me.displayName);
  const [nameState, setNameState] = useState<{ ok: boolean; text: string } | null>(null);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [passwordState, setPasswordState] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function saveName(e: FormEvent) {
    e.preventDefault();
    if (busy || !name.trim()) return;
    setBusy(true);
    setNameState(null);
    try {
      const user = await api.updateMe(name.trim());
      onProfileChange(user);
      setName(user.displayName);
      setNameState({ ok: true, text: t('profile.nameSaved') });
    } catch (err) {
      setNameState({ ok: false, text: describeProfileError(err, 'name') });
    } finally {
      setBusy(false);
    }
  }

  async function changePassword(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    if (next.length < 8) {
      setPasswordState({ ok: false, text: t('profile.error.shortPassword') });
      return;
    }
    setBusy(true);
    setPasswordState(null);
    try {
      await api.changePassword(current, next);
      setCurrent('');
      setNext('');
      setPasswordState({ ok: true, text: t('profile.passwordChanged') });
    } catch (err) {
      setPasswordState({ ok: false, text: describeProfileError(err, 'password') });
    } finally {
      setBusy(false);
    }
  }

  async function logoutEverywhere() {
    setBusy(true);
    try {
      await api.logoutEverywhere();
      onLoggedOutEverywhere();
    } catch (err) {
      setPasswordState({ ok: false, text: describeProfileError(err, 'password') });
      setBusy(false);
    }
  }

  return (
    <Dialog title={t('profile.title')} onClose={onClose} className="profile-dialog">
      <form className="dialog-form" onSubmit={(e) => void saveName(e)}>
        <label className="field">
          <span>{t('profile.displayName')}</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required autoComplete="nickname" />
        </label>
        <p className="field-hint">@{me.username}</p>
        <Outcome state={nameState} />
        <div className="dialog-actions">
          <button type="submit" className="button primary" disabled={busy || !name.trim() || name.trim() === me.displayName}>
            {t('profile.saveName')}
          </button>
        </div>
      </form>
      <form className="dialog-form profile-section" onSubmit={(e) => void changePassword(e)}>
        <h3>{t('profile.passwordHeading')}</h3>
        <input type="text" name="username" autoComplete="username" value={me.username} readOnly hidden />
        <label className="field">
          <span>{t('profile.currentPassword')}</span>
          <input type="password" value={current} onChange={(e) => setCurrent(e.target.value)} autoComplete="current-password" required />
        </label>
        <label className="field">
          <span>{t('profile.newPassword')}</span>
          <input type="password" value={next} onChange={(e) => setNext(e.target.value)} autoComplete="new-password" required minLength={8} />
        </label>
        <Outcome state={passwordState} />
        <div className="dialog-actions">
          <button type="submit" className="button secondary" disabled={busy || !current || !next}>
            {t('profile.changePassword')}
          </button>
        </div>
      </form>
      <div className="profile-section">
        <h3>{t('profile.sessionsHeading')}</h3>
        <p className="field-hint">{t('profile.logoutEverywhereHint')}</p>
        <div className="dialog-actions">
          <button type="button" className="button danger" disabled={busy} onClick={() => void logoutEverywhere()}>
            {t('profile.logoutEverywhere')}
          </button>
        </div>
      </div>
    </Dialog>
  );
}

/** A form's result: a `status` when it worked, an `alert` when it did not. */
function Outcome({ state }: { state: { ok: boolean; text: string } | null }) {
  if (!state) return null;
  return state.ok ? (
    <p className="form-ok" role="status">
      {state.text}
    </p>
  ) : (
    <p className="form-error" role="alert">
      {state.text}
    </p>
  );
}
