//! Log in / sign up: one form, two buttons. Sign up registers then logs in.
import { useState, type FormEvent } from 'react';
import { ApiError, createApi } from '../../api/http';
import type { Session } from '../../app/session';
import { Logo } from '../../ui/icons';

/** Props of `LoginScreen`. */
export interface LoginScreenProps {
  onLogin(session: Session): void;
  /** Why the user is here again (session expired), if so. */
  notice?: string | null;
}

function explain(error: unknown, signingUp: boolean): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'Wrong username or password.';
    if (error.status === 409) return 'That username is already taken.';
    if (error.status === 400) return error.message || (signingUp ? 'Check the username and password.' : 'Invalid input.');
    return error.message;
  }
  return 'Cannot reach the server. Check your connection and try again.';
}

/** The login screen. */
export function LoginScreen({ onLogin, notice }: LoginScreenProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<'login' | 'signup' | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(mode: 'login' | 'signup') {
    if (busy) return;
    setBusy(mode);
    setError(null);
    const api = createApi();
    try {
      const name = username.trim().toLowerCase();
      if (mode === 'signup') await api.register(name, password);
      const { token, user } = await api.login(name, password);
      onLogin({ token, user });
    } catch (e) {
      setError(explain(e, mode === 'signup'));
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
          <p>Real-time chat for your team and friends.</p>
        </div>
        {notice && <p className="notice">{notice}</p>}
        <form onSubmit={onSubmit} className="auth-form">
          <label className="field">
            <span>Username</span>
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
            <span>Password</span>
            <input
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="current-password"
              required
            />
          </label>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary" disabled={busy !== null}>
            {busy === 'login' ? 'Logging in…' : 'Log in'}
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
            {busy === 'signup' ? 'Creating account…' : 'Sign up'}
          </button>
          <p className="auth-hint">New here? Pick a username (3–32 letters, digits, _ . -) and a password of 8+ characters, then Sign up.</p>
        </form>
      </div>
    </main>
  );
}
