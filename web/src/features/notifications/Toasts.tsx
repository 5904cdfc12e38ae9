//! Toasts for messages of rooms not on screen, in the `Notifications` status region.
//! Clicking one opens its room. In a group the sender's `@username` follows the display name,
//! which anyone can copy. A message that mentions the user says so ("mentioned you").
import { navigate, roomPath } from '../../app/router';
import { useNotifications } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { CloseIcon } from '../../ui/icons';
import { UserName } from '../../ui/UserName';

/** The toast region. */
export function Toasts() {
  const { toasts, dismiss } = useNotifications();
  return (
    <div className="toasts" role="status" aria-label="Notifications">
      {toasts.map((toast) => (
        <div className="toast" key={toast.id}>
          <button
            type="button"
            className="toast-open"
            onClick={() => {
              dismiss(toast.id);
              navigate(roomPath(toast.roomId));
            }}
          >
            <Avatar name={toast.sender.displayName} size={36} />
            <span className="toast-body">
              <span className="toast-head">
                {toast.roomKind === 'group' ? (
                  <>
                    <UserName user={toast.sender} className="toast-sender" />
                    <span className="toast-room"> in {toast.roomName}</span>
                  </>
                ) : (
                  <strong className="toast-sender">{toast.sender.displayName}</strong>
                )}
                {toast.mention && <span className="toast-mention"> mentioned you</span>}
              </span>
              <span className="toast-text">{toast.text || '📎 Sent a file'}</span>
              {toast.count > 1 && <span className="toast-more">+{toast.count - 1} more</span>}
            </span>
          </button>
          <button type="button" className="icon-button toast-close" aria-label="Dismiss" onClick={() => dismiss(toast.id)}>
            <CloseIcon />
          </button>
        </div>
      ))}
    </div>
  );
}
