//! Messages for rooms that are not on screen, one toast per room (a `status` each) in a region
//! named `Notifications`. Clicking a toast opens its room, which also clears it.
import { useNotifications } from '@sotong/react';

/** The toasts; `onOpen` opens a room. */
export function Toasts({ onOpen }: { onOpen(roomId: number): void }) {
  const { toasts, dismiss } = useNotifications();
  return (
    <section className="toasts" aria-label="Notifications">
      {toasts.map((toast) => (
        <div key={toast.id} className="toast" role="status">
          <button type="button" className="toast-open" onClick={() => onOpen(toast.roomId)}>
            <strong>{toast.sender.displayName}</strong>
            {toast.roomKind === 'group' && ` in ${toast.roomName}`}: {toast.text}
            {toast.count > 1 && ` (+${String(toast.count - 1)} more)`}
          </button>
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </section>
  );
}
