//! Whether the page is seen: the document is visible (Page Visibility API) and its window has
//! the focus. A room counts as on screen only while the page is seen, so that messages that
//! arrive while the tab is hidden or another window is in front stay unread and notify.
//!
//! One store per document, listening to `visibilitychange`, `focus` and `blur` only while
//! something subscribes. Outside a browser (server rendering) the page counts as seen.

type Listener = () => void;

const listeners = new Set<Listener>();
let seen = readSeen();

/** Is the page visible and focused right now, as the document says? */
function readSeen(): boolean {
  if (typeof document === 'undefined') return true;
  return document.visibilityState !== 'hidden' && document.hasFocus();
}

function update(): void {
  const next = readSeen();
  if (next === seen) return;
  seen = next;
  for (const listener of [...listeners]) listener();
}

/**
 * The page's visibility and focus, shaped for `useSyncExternalStore`. `usePageVisible` reads
 * it; `useRoom` follows it unless told not to.
 */
export const pageVisibility = {
  /** Listens to changes; the DOM listeners live while at least one listener does. */
  subscribe(listener: Listener): () => void {
    if (listeners.size === 0 && typeof window !== 'undefined') {
      seen = readSeen();
      document.addEventListener('visibilitychange', update);
      window.addEventListener('focus', update);
      window.addEventListener('blur', update);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && typeof window !== 'undefined') {
        document.removeEventListener('visibilitychange', update);
        window.removeEventListener('focus', update);
        window.removeEventListener('blur', update);
      }
    };
  },
  /** Whether the page is visible and focused (as of the latest event). */
  getSnapshot(): boolean {
    return listeners.size === 0 ? readSeen() : seen;
  },
};
