//! Toasts: what the user sees of a message for a room that is not on screen. One toast per
//! room (a burst updates it and counts), at most `MAX_TOASTS` at once, each dismissed after
//! a while or when its room opens.
import type { User } from './types';

/** One toast. */
export interface Toast {
  id: number;
  roomId: number;
  roomName: string;
  roomKind: 'direct' | 'group';
  sender: User;
  text: string;
  /** Messages this toast stands for (a burst shows the latest). */
  count: number;
  /** The latest message mentions the user. */
  mention?: boolean;
}

/** How many toasts are shown at once. */
export const MAX_TOASTS = 3;

/** The toasts of the session. */
export class NotificationStore {
  private toasts: readonly Toast[] = [];
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly listeners = new Set<() => void>();
  private nextId = 1;

  /** @param ttlMs how long a toast stays; 0 keeps it until dismissed. */
  constructor(private readonly ttlMs = 6_000) {}

  /** Listens to changes (shaped for `useSyncExternalStore`). */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Toasts on screen, oldest first. */
  getSnapshot = (): readonly Toast[] => this.toasts;

  /** Shows a toast for a message, merging with the room's toast on screen. */
  push(toast: Omit<Toast, 'id' | 'count'>): void {
    const existing = this.toasts.find((t) => t.roomId === toast.roomId);
    const next: Toast = { ...toast, id: this.nextId++, count: (existing?.count ?? 0) + 1 };
    if (existing) this.clearTimer(existing.id);
    let toasts = [...this.toasts.filter((t) => t.roomId !== toast.roomId), next];
    while (toasts.length > MAX_TOASTS) {
      const [oldest, ...rest] = toasts;
      if (oldest) this.clearTimer(oldest.id);
      toasts = rest;
    }
    this.toasts = toasts;
    if (this.ttlMs > 0) this.timers.set(next.id, setTimeout(() => this.dismiss(next.id), this.ttlMs));
    this.changed();
  }

  /** Removes one toast. */
  dismiss(id: number): void {
    if (!this.toasts.some((t) => t.id === id)) return;
    this.clearTimer(id);
    this.toasts = this.toasts.filter((t) => t.id !== id);
    this.changed();
  }

  /** Removes the room's toast (the room is now on screen). */
  dismissRoom(roomId: number): void {
    for (const toast of this.toasts) if (toast.roomId === roomId) this.dismiss(toast.id);
  }

  /** Cancels every timer (the session ended). */
  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private clearTimer(id: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
