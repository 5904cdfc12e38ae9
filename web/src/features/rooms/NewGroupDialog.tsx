//! New group: a name and members (usernames separated by commas, typed by hand or picked
//! from the suggestions for the name being typed); the creator is a member.
import { useState, type FormEvent } from 'react';
import { ApiError, type Api } from '../../api/http';
import { describeError } from '../../api/errors';
import type { User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { navigate, roomPath } from '../../app/router';
import { useChatClient } from '@sotong/react';
import { Dialog } from '../../ui/Dialog';
import { useT } from '../../i18n';
import { parseMembers, UsernameField } from './UsernameField';

/** Props of `NewGroupDialog`. */
export interface NewGroupDialogProps {
  me: User;
  onClose(): void;
}

/** Which of `usernames` no user has (each looked up by its exact name). */
async function missingUsers(api: Api, usernames: readonly string[]): Promise<string[]> {
  const found = await Promise.all(usernames.map((name) => api.searchUsers(name).then((users) => users.some((u) => u.username === name))));
  return usernames.filter((_, index) => !found[index]);
}

/** The dialog. */
export function NewGroupDialog({ me, onClose }: NewGroupDialogProps) {
  const api = useApi();
  const client = useChatClient();
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { t } = useT();
  const listed = parseMembers(members);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (busy || !name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const room = await api.createGroup(name.trim(), listed);
      client.addRoom(room);
      onClose();
      navigate(roomPath(room.id));
    } catch (err) {
      // The answer names no username in a stable form: find the unknown ones to say which.
      const usernames = err instanceof ApiError && err.code === 'not_found' ? await missingUsers(api, listed).catch(() => []) : [];
      setError(describeError(err, 'createGroup', { usernames }));
      setBusy(false);
    }
  }

  return (
    <Dialog title={t('group.title')} onClose={onClose}>
      <form onSubmit={(e) => void onSubmit(e)} className="dialog-form">
        <label className="field">
          <span>{t('group.name')}</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder={t('group.namePlaceholder')} required maxLength={100} />
        </label>
        <UsernameField
          mode="list"
          label={t('group.members')}
          hint={t('group.membersHint')}
          value={members}
          onChange={setMembers}
          placeholder="alice, bob"
          excludeIds={[me.id]}
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
          <button type="submit" className="button primary" disabled={!name.trim() || busy}>
            {t('group.create')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
