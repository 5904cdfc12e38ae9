//! Drafts: what the user typed in a room's composer and did not send, kept per user and room in
//! localStorage, so it survives a switch to another room and a reload. A send (or emptying the
//! box) forgets it. Storage that is off or full only loses the draft.

/** The storage key of a user's draft in a room. */
export function draftKey(userId: number, roomId: number): string {
  return `sotong.draft.${String(userId)}.${String(roomId)}`;
}

/** The saved draft, or an empty text. */
export function loadDraft(key: string): string {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

/** Saves the draft (an empty or blank one is forgotten). */
export function saveDraft(key: string, text: string): void {
  try {
    if (text.trim() === '') localStorage.removeItem(key);
    else localStorage.setItem(key, text);
  } catch {
    // Storage is off or full: the draft lives only as long as the composer.
  }
}
