//! A room's members: each with avatar, display name and unique `@username`, and a slot for a
//! presence dot beside the avatar (filled by the presence feature; empty until then). In a
//! group the viewer can rename it, add members (typed usernames or picked from suggestions) and
//! leave it after a confirmation. Every change reaches the other members live: the server sends
//! each of them the room again (`room` event), which the room list and the open chat take.
import { useState, type FormEvent } from 'react';
import { useChatClient, useRoomInfo } from '@sotong/react';
import { ApiError } from '../../api/http';
import type { Room, User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { navigate } from '../../app/router';
import { t, useT, type MessageKey } from '../../i18n';
import { Avatar } from '../../ui/Avatar';
import { Dialog } from '../../ui/Dialog';
import { UserName } from '../../ui/UserName';
import { parseMembers, UsernameField } from './UsernameField';

/** Props of `MembersDialog`. */
export interface MembersDialogProps {
  roomId: number;
  me: User;
  onClose(): void;
}

/** What the person reads when a member change is refused: by the contract's code. */
export function describeMembersError(error: unknown): string {
  const code = error instanceof ApiError ? error.code : '';
  const keys: Record<string, MessageKey> = {
    invalid: 'members.error.invalidName',
    not_found: 'members.error.notFound',
    forbidden: 'members.error.forbidden',
    rate_limited: 'members.error.rateLimited',
    too_large: 'members.error.rateLimited',
  };
  return t(keys[code] ?? 'profile.error.other');
}

/** Members sorted for reading: the viewer first, then by display name. */
export function sortedMembers(members: readonly User[], meId: number): User[] {
  return [...members].sort((a, b) => Number(b.id === meId) - Number(a.id === meId) || a.displayName.localeCompare(b.displayName));
}

/** The dialog. */
export function MembersDialog({ roomId, me, onClose }: MembersDialogProps) {
  const room = useRoomInfo(roomId);
  const { t, tn } = useT();
  const [confirmLeave, setConfirmLeave] = useState(false);
  if (!room) return null;
  if (confirmLeave) return <LeaveDialog room={room} onClose={() => setConfirmLeave(false)} />;
  const group = room.kind === 'group';
  return (
    <Dialog title={t('members.title')} description={tn('members.count', room.members.length)} onClose={onClose} className="members-dialog">
      {group && <RenameForm room={room} />}
      <ul className="member-list" aria-label={t('members.list')}>
        {sortedMembers(room.members, me.id).map((member) => (
          <li key={member.id} className="member-row">
            <span className="member-avatar">
              <Avatar name={member.displayName} size={34} />
              {/* Presence dot: the presence feature renders it here, keyed by data-user-id. */}
              <span className="presence-slot" data-user-id={member.id} />
            </span>
            <span className="member-name">
              <UserName user={member} />
              {member.id === me.id && <span className="member-you"> ({t('members.you')})</span>}
            </span>
          </li>
        ))}
      </ul>
      {group && <AddMembersForm room={room} me={me} />}
      {group && (
        <div className="dialog-actions">
          <button type="button" className="button danger" onClick={() => setConfirmLeave(true)}>
            {t('members.leave')}
          </button>
        </div>
      )}
    </Dialog>
  );
}

/** The group's name, with a button that turns it into a form. */
function RenameForm({ room }: { room: Room }) {
  const api = useApi();
  const client = useChatClient();
  const { t } = useT();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(room.name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!editing) {
    return (
      <div className="rename-row">
        <strong className="rename-current">{room.name}</strong>
        <button
          type="button"
          className="button ghost"
          onClick={() => {
            setName(room.name);
            setError(null);
            setEditing(true);
          }}
        >
          {t('members.rename')}
        </button>
      </div>
    );
  }
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (busy || !name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const renamed = await api.renameRoom(room.id, name.trim());
      client.addRoom(renamed);
      setEditing(false);
    } catch (err) {
      setError(describeMembersError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="rename-form" onSubmit={(e) => void onSubmit(e)}>
      <label className="field">
        <span>{t('members.groupName')}</span>
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} required />
      </label>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="button ghost" onClick={() => setEditing(false)}>
          {t('members.cancel')}
        </button>
        <button type="submit" className="button primary" disabled={busy || !name.trim()}>
          {t('members.save')}
        </button>
      </div>
    </form>
  );
}

/** Usernames to add, with suggestions for the one being typed. */
function AddMembersForm({ room, me }: { room: Room; me: User }) {
  const api = useApi();
  const client = useChatClient();
  const { t } = useT();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const listed = parseMembers(text);
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (busy || listed.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      client.addRoom(await api.addMembers(room.id, listed));
      setText('');
    } catch (err) {
      setError(describeMembersError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="add-members" onSubmit={(e) => void onSubmit(e)}>
      <UsernameField
        mode="list"
        label={t('members.add')}
        hint={t('members.addHint')}
        value={text}
        onChange={setText}
        placeholder="carol, dave"
        excludeIds={[me.id, ...room.members.map((m) => m.id)]}
      />
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="submit" className="button primary" disabled={busy || listed.length === 0}>
          {t('members.addSubmit')}
        </button>
      </div>
    </form>
  );
}

/** "Leave group?": leaving takes the room off the list and goes back to the room list. */
function LeaveDialog({ room, onClose }: { room: Room; onClose(): void }) {
  const api = useApi();
  const client = useChatClient();
  const { t } = useT();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function leave() {
    setBusy(true);
    setError(null);
    try {
      await api.leaveRoom(room.id);
      // Off the room first, so that no view of it asks for it again.
      navigate('/');
      client.removeRoom(room.id);
    } catch (err) {
      setError(describeMembersError(err));
      setBusy(false);
    }
  }
  return (
    <Dialog title={t('members.leaveConfirmTitle')} description={t('members.leaveConfirmText', { name: room.name })} onClose={onClose}>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="button ghost" onClick={onClose}>
          {t('members.cancel')}
        </button>
        <button type="button" className="button danger" disabled={busy} onClick={() => void leave()}>
          {t('members.leaveSubmit')}
        </button>
      </div>
    </Dialog>
  );
}
