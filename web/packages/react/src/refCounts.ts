//! Holders counted per key: what "reference-counted" means everywhere in this package (a room
//! on screen in two components, a topic held by the room list and by a view). The release
//! function a holder gets is idempotent, so a cleanup that runs twice cannot steal another
//! holder's reference.

/** Counts holders per key. */
export class RefCounts<K> {
  private readonly counts = new Map<K, number>();

  /** Is the key held? */
  has(key: K): boolean {
    return this.counts.has(key);
  }

  /** Keys held now. */
  keys(): IterableIterator<K> {
    return this.counts.keys();
  }

  /**
   * Adds a holder of `key` and returns its release; `onLast` runs when the last holder
   * releases. `onFirst` runs now if this is the first holder.
   */
  acquire(key: K, hooks: { onFirst?: () => void; onLast?: () => void } = {}): () => void {
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count === 1) hooks.onFirst?.();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left > 0) {
        this.counts.set(key, left);
        return;
      }
      this.counts.delete(key);
      hooks.onLast?.();
    };
  }
}
