//! The providers: each owns the session's one chat engine (and so its one STOMP connection)
//! and hands it to the hooks through context.
//!
//! - `SotongProvider` builds a `SotongChatClient` (sotong's full contract) from its props;
//! - `StompProvider` builds a `StompChatClient` (any STOMP 1.2 broker) from its props;
//! - `ChatProvider` takes an engine built by the app (tests, storybooks, custom engines).
//!
//! The engine is built once per mount (render is pure: building it opens nothing), started in
//! an effect and stopped in its cleanup. `stop` is deferred by a tick and cancelled by
//! `start`, so StrictMode's mount → unmount → mount keeps one socket. Props are read once:
//! re-key the provider (for example by token or user) to start a new session.
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { RealtimeContext, type RealtimeContextValue } from './context';
import type { ChatClient } from './engine';
import { SotongChatClient, type SotongChatClientOptions } from './sotongClient';
import { StompChatClient, type StompChatClientOptions } from './stompClient';

/** Props of `ChatProvider`. */
export interface ChatProviderProps {
  /** The engine; started while the provider is mounted. */
  client: ChatClient;
  children?: ReactNode;
}

/** Provides a ready-made engine to `useRoom`, `useNotifications`, ... */
export function ChatProvider({ client, children }: ChatProviderProps) {
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  const value = useMemo<RealtimeContextValue>(() => ({ client }), [client]);
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}

/** Keeps the latest `onAuthFailure` prop callable from an engine built once. */
function useLatestAuthFailure(onAuthFailure: ((code: string) => void) | undefined): (code: string) => void {
  const latest = useRef(onAuthFailure);
  useEffect(() => {
    latest.current = onAuthFailure;
  });
  return useCallback((code: string) => latest.current?.(code), []);
}

/** Props of `SotongProvider`: the `SotongChatClient` options. */
export type SotongProviderProps = SotongChatClientOptions & { children?: ReactNode };

/** Connects to a sotong server and provides the session to the hooks. */
export function SotongProvider({ children, ...options }: SotongProviderProps) {
  const onAuthFailure = useLatestAuthFailure(options.onAuthFailure);
  const [client] = useState(() => new SotongChatClient({ ...options, onAuthFailure }));
  return <ChatProvider client={client}>{children}</ChatProvider>;
}

/** Props of `StompProvider`: the `StompChatClient` options. */
export type StompProviderProps = StompChatClientOptions & { children?: ReactNode };

/** Connects to a plain STOMP broker (RabbitMQ, Spring, ...) and provides the session to the hooks. */
export function StompProvider({ children, ...options }: StompProviderProps) {
  const onAuthFailure = useLatestAuthFailure(options.onAuthFailure);
  const [client] = useState(() => new StompChatClient({ ...options, onAuthFailure }));
  return <ChatProvider client={client}>{children}</ChatProvider>;
}
