//! Keeps this browser's push subscription with the server for the signed-in user: on sign-in,
//! when desktop notifications are already permitted, the worker is registered and the
//! subscription (re)sent, so a subscription the push service renewed reaches the server too.
import { useEffect } from 'react';
import { useApi } from '../../app/ApiContext';
import { registerPush } from './push';

/** Registers for Web Push once per sign-in (see `push.ts`). */
export function usePushRegistration(): void {
  const api = useApi();
  useEffect(() => {
    void registerPush(api);
  }, [api]);
}
