//! A tiny client-side router over the History API: `/` (room list), `/rooms/:id` (a chat).
//! The server answers every client route with index.html, so deep links work.
import { useSyncExternalStore } from 'react';

const NAVIGATE = 'sotong:navigate';

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  window.addEventListener(NAVIGATE, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(NAVIGATE, listener);
  };
}

/** Goes to `path` (pushes a history entry unless `replace`). */
export function navigate(path: string, replace = false): void {
  if (window.location.pathname === path) return;
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** The current path, re-rendering on navigation. */
export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

/** The room id of a `/rooms/:id` path, else null. */
export function roomIdOf(path: string): number | null {
  const match = /^\/rooms\/(\d+)\/?$/.exec(path);
  return match?.[1] !== undefined ? Number(match[1]) : null;
}

/** The path of a room. */
export const roomPath = (roomId: number): string => `/rooms/${String(roomId)}`;
