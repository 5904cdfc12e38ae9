//! Read receipts in the log: the number of members who have not read a group message (a
//! button named "2 unread" that opens who has read it and who has not), "Seen" under the last
//! own message the other member of a direct room has read, and the "Jump to latest" button
//! shown while the reader is scrolled up (with how many new messages came in below).
import type { User } from '../../api/types';
import { useT } from '../../i18n';
import { Dialog } from '../../ui/Dialog';

/** The number beside a group message: members who have not read it; nothing at 0. */
export function UnreadBy({ count, onOpen }: { count: number; onOpen(): void }) {
  const { tn } = useT();
  if (count <= 0) return null;
  return (
    <button type="button" className="unread-by" aria-label={tn('seen.unread', count)} title={tn('seen.unread', count)} onClick={onOpen}>
      {count}
    </button>
  );
}

/** "Seen" under a direct room's last own message the other member has read. */
export function SeenMark() {
  const { t } = useT();
  return <span className="seen">{t('seen.seen')}</span>;
}

/** Props of `SeenByDialog`. */
export interface SeenByDialogProps {
  read: readonly User[];
  unread: readonly User[];
  onClose(): void;
}

/** Who has read a message and who has not, in a dialog named "Seen by". */
export function SeenByDialog({ read, unread, onClose }: SeenByDialogProps) {
  const { t } = useT();
  const list = (label: string, users: readonly User[]) => (
    <section className="seen-by-section">
      <h3>{label}</h3>
      {users.length === 0 ? (
        <p className="seen-by-none">{t('seen.nobody')}</p>
      ) : (
        <ul aria-label={label}>
          {users.map((u) => (
            <li key={u.id}>
              {u.displayName} <span className="username">@{u.username}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
  return (
    <Dialog title={t('seen.dialog')} onClose={onClose} className="seen-by">
      {list(t('seen.read'), read)}
      {list(t('seen.notRead'), unread)}
    </Dialog>
  );
}

/** The button back to the newest message, with the count of those that came in below. */
export function JumpToLatest({ newBelow, onJump }: { newBelow: number; onJump(): void }) {
  const { t, tn } = useT();
  return (
    <button type="button" className="jump-latest" onClick={onJump}>
      {t('seen.jump')}
      {newBelow > 0 && <span className="jump-latest-count"> · {tn('seen.newBelow', newBelow)}</span>}
    </button>
  );
}
