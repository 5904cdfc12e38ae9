//! New group: a name and members (usernames separated by commas); the creator is a member.
import { useState, type FormEvent } from 'react';
import { useApi } from '../../app/ApiContext';
import { navigate, roomPath } from '../../app/router';
import { useChatClient } from '../../realtime';
import { Dialog } from '../../ui/Dialog';

/** Props of `NewGroupDialog`. */
export interface NewGroupDialogProps {
  onClose(): void;
}

/** Usernames from a comma (or space) separated list, lower-cased, without duplicates. */
export function parseMembers(text: string): string[] {
  return [...new Set(text.split(/[,\s]+/).map((s) => s.trim().replace(/^@/, '').toLowerCase()).filter(Boolean))];
}

/** The dialog. */
export function NewGroupDialog({ onClose }: NewGroupDialogProps) {
  const api = useApi();
  const client = useChatClient();
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (busy || !name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const room = await api.createGroup(name.trim(), parseMembers(members));
      client.addRoom(room);
      onClose();
      navigate(roomPath(room.id));
    } catch (err) {
      setError(err instanceof Error ? err.message : 'Something went wrong.');
      setBusy(false);
    }
  }

  return (
    <Dialog title="New group" onClose={onClose}>
      <form onSubmit={(e) => void onSubmit(e)} className="dialog-form">
        <label className="field">
          <span>Group name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Weekend trip" required />
        </label>
        <label className="field">
          <span>Members</span>
          <input value={members} onChange={(e) => setMembers(e.target.value)} placeholder="alice, bob" autoCapitalize="none" spellCheck={false} aria-describedby="members-hint" />
        </label>
        <p id="members-hint" className="field-hint">
          Usernames separated by commas. You are added automatically.
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={!name.trim() || busy}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
