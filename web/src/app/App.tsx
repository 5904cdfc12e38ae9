//! The app root: the login screen, or the logged-in shell inside one `SotongProvider`
//! (re-keyed by token, so a new login is a new connection and fresh stores). An auth failure
//! on the socket (`unauthorized`, `token_expired`) or a `401` on HTTP logs out: sotong has no
//! refresh endpoint.
import { SotongProvider } from '@sotong/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { describeCode } from '../api/errors';
import { createApi } from '../api/http';
import type { User } from '../api/types';
import { t } from '../i18n';
import { LoginScreen } from '../features/auth/LoginScreen';
import { ApiContext } from './ApiContext';
import { navigate } from './router';
import { loadSession, saveSession, type Session } from './session';
import { Shell } from './Shell';
import { unregisterPush } from '../features/notifications/push';

/** The whole app. */
export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | null>(null);

  // A session the user ended on purpose (log out, log out everywhere) keeps that reason: the
  // socket's own `unauthorized`, which a log out everywhere also causes, may arrive just before
  // or just after it and must not replace it.
  const endedOnPurpose = useRef(false);
  const endSession = useCallback((reason: string | null, onPurpose = false) => {
    if (endedOnPurpose.current && !onPurpose) return;
    endedOnPurpose.current ||= onPurpose;
    saveSession(null);
    setSession(null);
    setNotice(reason);
  }, []);

  const api = useMemo(
    () => createApi({ token: session?.token, onUnauthorized: () => endSession(t('app.sessionEnded')) }),
    [session?.token, endSession],
  );

  // A saved session may have expired while the tab was closed.
  useEffect(() => {
    if (!session) return;
    api.me().then(
      (user) => {
        if (user.displayName !== session.user.displayName) {
          const next = { ...session, user };
          saveSession(next);
          setSession(next);
        }
      },
      () => {},
    );
  }, [api, session]);

  const onLogin = useCallback((next: Session) => {
    endedOnPurpose.current = false;
    saveSession(next);
    setNotice(null);
    setSession(next);
  }, []);

  const onProfileChange = useCallback((user: User) => {
    setSession((current) => {
      if (!current || current.user.id !== user.id) return current;
      const next = { ...current, user };
      saveSession(next);
      return next;
    });
  }, []);

  const onLoggedOutEverywhere = useCallback(() => {
    endSession(t('profile.loggedOutEverywhere'), true);
    navigate('/', true);
  }, [endSession]);

  const onLogout = useCallback(() => {
    // The browser's push subscription goes first, while the token still works.
    void unregisterPush(api)
      .then(() => api.logout())
      .catch(() => {});
    endSession(null, true);
    navigate('/', true);
  }, [api, endSession]);

  if (!session) return <LoginScreen onLogin={onLogin} notice={notice} />;
  return (
    <ApiContext.Provider value={api}>
      <SotongProvider
        key={session.token}
        token={session.token}
        me={session.user}
        api={api}
        describeError={describeSendError}
        onAuthFailure={() => endSession(t('app.sessionExpired'))}
      >
        <Shell me={session.user} onLogout={onLogout} onProfileChange={onProfileChange} onLoggedOutEverywhere={onLoggedOutEverywhere} />
      </SotongProvider>
    </ApiContext.Provider>
  );
}

/** What the person reads when the server refuses one of their messages. */
function describeSendError(code: string): string {
  return describeCode(code, 'send');
}
