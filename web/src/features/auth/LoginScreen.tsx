//! Log in / sign up: one form, two buttons. Sign up registers (with the optional display
//! name) then logs in. Errors are worded by `describeError`; sign-up checks the rules the
//! server enforces first, so the common mistakes get a precise sentence without a round trip.
import { useId, useState, type FormEvent } from 'react';
import { describeError } from '../../api/errors';
import { createApi } from '../../api/http';
import type { Session } from '../../app/session';
import { Logo } from '../../ui/icons';
import { t as translate, useT } from '../../i18n';
import { LanguageSwitch } from '../../ui/LanguageSwitch';

/** Props of `LoginScreen`. */
export interface LoginScreenProps {
  onLogin(session: Session): void;
  /** Why the user is here again (session expired), if so. */
  notice?: string | null;
}

/** The server's username rule (3–32 of a-z 0-9 _ . -, case-insensitive). */
const USERNAME = /^[a-z0-9_.-]{3,32}$/;

/** Why a sign-up would be refused, checked before asking the server; null when it looks fine. */
export function signUpProblem(username: string, password: string, displayName: string): string | null {
  if (!USERNAME.test(username)) return translate('login.problem.username');
  if ([...password].length < 8) return translate('login.problem.password');
  if ([...displayName.trim()].length > 64) return translate('login.problem.displayName');
  return null;
}

/** The login screen. */
export function LoginScreen({ onLogin, notice }: LoginScreenProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const displayNameHint = useId();
  const [busy, setBusy] = useState<'login' | 'signup' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { t } = useT();

  async function run(mode: 'login' | 'signup') {
    if (busy) return;
    const name = username.trim().toLowerCase();
    const problem = mode === 'signup' ? signUpProblem(name, password, displayName) : null;
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(mode);
    setError(null);
    const api = createApi();
    let action: 'register' | 'login' = mode === 'signup' ? 'register' : 'login';
    try {
      if (mode === 'signup') await api.register(name, password, displayName.trim() || undefined);
      action = 'login';
      const { token, user } = await api.login(name, password);
      onLogin({ token, user });
    } catch (e) {
      setError(describeError(e, action));
      setBusy(null);
    }
  }

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void run('login');
  };

  return (
    <main className="auth">
      <div className="auth-card">
        <div className="auth-brand">
          <Logo size={48} />
          <h1>sotong</h1>
          <p>{t('login.tagline')}</p>
        </div>
        {notice && <p className="notice">{notice}</p>}
        <form onSubmit={onSubmit} className="auth-form">
          <label className="field">
            <span>{t('login.username')}</span>
            <input
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              minLength={3}
              maxLength={32}
            />
          </label>
          <label className="field">
            <span>{t('login.password')}</span>
            <input
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="current-password"
              required
            />
          </label>
          <label className="field">
            <span>{t('login.displayName')}</span>
            <input
              value={displayName}
              onChange={(e) => setDisplayName(e.target.value)}
              autoComplete="nickname"
              maxLength={64}
              aria-describedby={displayNameHint}
            />
          </label>
          <p id={displayNameHint} className="field-hint">
            {t('login.displayNameHint')}
          </p>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary" disabled={busy !== null}>
            {busy === 'login' ? t('login.loggingIn') : t('login.logIn')}
          </button>
          <button
            type="button"
            className="button secondary"
            disabled={busy !== null}
            onClick={(e) => {
              const form = e.currentTarget.form;
              if (form && !form.reportValidity()) return;
              void run('signup');
            }}
          >
            {busy === 'signup' ? t('login.signingUp') : t('login.signUp')}
          </button>
          <p className="auth-hint">{t('login.hint')}</p>
        </form>
        <LanguageSwitch className="auth-language" />
      </div>
    </main>
  );
}
