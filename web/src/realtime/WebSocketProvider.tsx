//! `<WebSocketProvider>`: owns the session's one `ChatClient` (and so its one STOMP
//! connection) and hands it to the hooks through context. The client is built once per
//! mount from the props (render is pure: building it opens nothing), started in an effect
//! and stopped in its cleanup. `stop` is deferred by a tick and cancelled by `start`, so
//! StrictMode's mount → unmount → mount keeps one socket. Re-key the provider (for example
//! by token) to start a new session.
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ChatClient, type ChatClientOptions } from './chatClient';
import { RealtimeContext, type RealtimeContextValue } from './context';

/** Props: the `ChatClient` options, or a ready-made `client` (tests, storybooks). */
export type WebSocketProviderProps = { children?: ReactNode } & (
  | ({ client?: undefined } & ChatClientOptions)
  | { client: ChatClient; onAuthFailure?: (code: string) => void }
);

/** Provides the session's realtime client to `useRoom`, `useNotifications`, ... */
export function WebSocketProvider(props: WebSocketProviderProps) {
  const onAuthFailure = useRef(props.onAuthFailure);
  useEffect(() => {
    onAuthFailure.current = props.onAuthFailure;
  });
  const [client] = useState<ChatClient>(
    () =>
      props.client ??
      new ChatClient({ ...(props as ChatClientOptions), onAuthFailure: (code) => onAuthFailure.current?.(code) }),
  );
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  const value = useMemo<RealtimeContextValue>(() => ({ client }), [client]);
  return <RealtimeContext.Provider value={value}>{props.children}</RealtimeContext.Provider>;
}

/** The style guide's name for the same provider. */
export const RealtimeProvider = WebSocketProvider;
