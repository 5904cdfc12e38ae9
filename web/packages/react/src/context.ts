//! The React context between the providers and the hooks.
import { createContext } from 'react';
import type { ChatClient } from './engine';

/** Stable for the provider's lifetime. */
export interface RealtimeContextValue {
  client: ChatClient;
}

/** Null outside a provider (the hooks then throw a clear error). */
export const RealtimeContext = createContext<RealtimeContextValue | null>(null);
