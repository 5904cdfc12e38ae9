//! The React context between `WebSocketProvider` and the hooks.
import { createContext } from 'react';
import type { ChatClient } from './chatClient';

/** Stable for the provider's lifetime. */
export interface RealtimeContextValue {
  client: ChatClient;
}

/** Null outside a provider (the hooks then throw a clear error). */
export const RealtimeContext = createContext<RealtimeContextValue | null>(null);
