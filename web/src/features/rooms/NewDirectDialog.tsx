//! New direct message: search users by prefix, start (or reopen) the direct room.
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError } from '../../api/http';
import type { User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { navigate, roomPath } from '../../app/router';
import { useChatClient } from '../../realtime';
import { Avatar } from '../../ui/Avatar';
import { Dialog } from '../../ui/Dialog';

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
  const [matches, setMatches] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const query = username.trim().toLowerCase();
  useEffect(() => {
    if (!query) return;
    let live = true;
    const timer = setTimeout(() => {
      api.searchUsers(query).then(
        (users) => live && setMatches(users.filter((u) => u.id !== me.id)),
        () => live && setMatches([]),
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, query, me.id]);

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
      setError(e instanceof ApiError && e.status === 404 ? `No user named “${name}”.` : e instanceof Error ? e.message : 'Something went wrong.');
      setBusy(false);
    }
  }

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void start(query);
  };

  const shown = query ? matches : [];
  return (
    <Dialog title="New direct message" onClose={onClose}>
      <form onSubmit={onSubmit} className="dialog-form">
        <label className="field">
          <span>Username</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" autoCapitalize="none" spellCheck={false} placeholder="Search people" />
        </label>
        {shown.length > 0 && (
          <ul className="user-results" aria-label="Matching users">
            {shown.map((user) => (
              <li key={user.id}>
                <button type="button" className="user-result" onClick={() => void start(user.username)}>
                  <Avatar name={user.displayName} size={32} />
                  <span className="user-result-name">{user.displayName}</span>
                  <span className="user-result-handle">@{user.username}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={!query || busy}>
            Start
          </button>
        </div>
      </form>
    </Dialog>
  );
}
