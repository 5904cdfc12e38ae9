//! The HTTP client of the logged-in session, for screens that call the API directly
//! (new direct message, new group).
import { createContext, useContext } from 'react';
import type { Api } from '../api/http';

/** Null outside the logged-in shell. */
export const ApiContext = createContext<Api | null>(null);

/**
 * The session's API client.
 *
 * # Errors
 * Throws outside `ApiContext`.
 */
export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi must be used inside the logged-in app');
  return api;
}
