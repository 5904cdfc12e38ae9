//! Toasts for messages of rooms not on screen, in the `Notifications` status region.
//! Clicking one opens its room. In a group the sender's `@username` follows the display name,
//! which anyone can copy. A message that mentions the user says so ("mentioned you").
import { navigate, roomPath } from '../../app/router';
import { useNotifications } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { useT } from '../../i18n';
import { CloseIcon } from '../../ui/icons';
import { UserName } from '../../ui/UserName';

/** The toast region. */
export function Toasts() {
  const { toasts, dismiss } = useNotifications();
  const { t } = useT();
  return (
    <div className="toasts" role="status" aria-label={t('toast.region')}>
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
                    <span className="toast-room">{t('toast.inRoom', { room: toast.roomName })}</span>
                  </>
                ) : (
                  <strong className="toast-sender">{toast.sender.displayName}</strong>
                )}
                {toast.mention && <span className="toast-mention">{t('toast.mentioned')}</span>}
              </span>
              <span className="toast-text">{toast.text || t('toast.file')}</span>
              {toast.count > 1 && <span className="toast-more">{t('toast.more', { count: toast.count - 1 })}</span>}
            </span>
          </button>
          <button type="button" className="icon-button toast-close" aria-label={t('toast.dismiss')} onClick={() => dismiss(toast.id)}>
            <CloseIcon />
          </button>
        </div>
      ))}
    </div>
  );
}
