//! New direct message: search users by prefix, start (or reopen) the direct room.
import { useState, type FormEvent } from 'react';
import { describeError } from '../../api/errors';
import type { User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { navigate, roomPath } from '../../app/router';
import { useChatClient } from '@sotong/react';
import { Dialog } from '../../ui/Dialog';
import { useT } from '../../i18n';
import { typedUsername, UsernameField } from './UsernameField';

/** Props of `NewDirectDialog`. */
export interface NewDirectDialogProps {
  me: User;
  onClose(): void;
}

/** The dialog. */
export function NewDirectDialog({ me, onClose }: NewDirectDialogProps) {
  const api = useApi();
  const client = useChatClient();
  const [username, setUsername] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { t } = useT();

  const query = typedUsername(username);

  async function start(name: string) {
    if (!name || busy) return;
    setBusy(true);
    setError(null);
    try {
      const room = await api.openDirect(name);
      client.addRoom(room);
      onClose();
      navigate(roomPath(room.id));
    } catch (e) {
      setError(describeError(e, 'openDirect', { usernames: [name] }));
      setBusy(false);
    }
  }

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void start(query);
  };

  return (
    <Dialog title={t('direct.title')} onClose={onClose}>
      <form onSubmit={onSubmit} className="dialog-form">
        <UsernameField
          mode="single"
          label={t('direct.username')}
          value={username}
          onChange={setUsername}
          placeholder={t('direct.search')}
          excludeIds={[me.id]}
          onPick={(user) => void start(user.username)}
        />
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button ghost" onClick={onClose}>
            {t('dialog.cancel')}
          </button>
          <button type="submit" className="button primary" disabled={!query || busy}>
            {t('direct.start')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
