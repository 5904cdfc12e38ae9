//! The room list: latest activity first, each room a link whose accessible name starts with
//! the room's name, then its unread count (with an `@` when some unread message mentions
//! the user: "mentioned" to a screen reader), then the last message.
import type { MouseEvent } from 'react';
import type { Room, User } from '../../api/types';
import { navigate, roomPath } from '../../app/router';
import { shortWhen } from '../../format';
import { useChatClient, useRooms } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { useT } from '../../i18n';
import { PresenceDot } from '../../ui/Presence';
import { UserName } from '../../ui/UserName';
import { BellOffIcon } from '../../ui/icons';

/** Props of `RoomList`. */
export interface RoomListProps {
  activeRoomId: number | null;
  me: User;
}

/** The list. */
export function RoomList({ activeRoomId, me }: RoomListProps) {
  const rooms = useRooms();
  const loaded = useChatClient().rooms.isLoaded;
  const { t } = useT();
  return (
    <nav aria-label={t('rooms.label')} className="rooms">
      {rooms.length === 0 ? (
        <p className="rooms-empty">{loaded ? t('rooms.empty') : t('rooms.loading')}</p>
      ) : (
        <ul>
          {rooms.map((room) => (
            <li key={room.id}>
              <RoomLink room={room} active={room.id === activeRoomId} me={me} />
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}

function RoomLink({ room, active, me }: { room: Room; active: boolean; me: User }) {
  const { t, tn } = useT();
  const href = roomPath(room.id);
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(href);
  };
  const last = room.lastMessage;
  // A direct room shows the other person's presence on its avatar.
  const other = room.kind === 'direct' ? room.members.find((m) => m.id !== me.id) : undefined;
  const files = last?.attachments?.length ?? 0;
  const lastText = last?.deletedAt ? t('rooms.deleted') : last?.text || (files > 0 ? `📎 ${files === 1 ? (last?.attachments?.[0]?.name ?? t('rooms.file')) : tn('rooms.files', files)}` : '');
  // In a group the sender is named, with the unique @username: a display name alone can be
  // anyone's (as in the messages and the toasts).
  const preview = !last ? (
    t('rooms.noMessages')
  ) : last.sender.id === me.id ? (
    t('rooms.mine', { text: lastText })
  ) : room.kind === 'group' ? (
    <>
      <UserName user={last.sender} />: {lastText}
    </>
  ) : (
    lastText
  );
  return (
    <a href={href} onClick={onClick} className={active ? 'room active' : 'room'} aria-current={active ? 'page' : undefined}>
      <Avatar name={room.name} group={room.kind === 'group'} size={44} />
      <span className="room-name">
        {room.name}
        {room.muted && <MutedMark />}
      </span>
      {other && <PresenceDot userId={other.id} />}
      {(room.unreadMentions ?? 0) > 0 && (
        <span className="mention-badge" title={t('rooms.mentioned')}>
          <span aria-hidden="true">@</span>
          <span className="sr-only">{t('rooms.mentionedSr')}</span>
        </span>
      )}
      {room.unread > 0 && (
        <span className="badge">
          {room.unread}
          <span className="sr-only">{t('rooms.unreadSr')}</span>
        </span>
      )}
      <span className="room-preview">{preview}</span>
      {last && <time className="room-time" dateTime={last.sentAt}>{shortWhen(last.sentAt)}</time>}
    </a>
  );
}

/** The muted room's mark in the list: a struck bell, named `Muted` for a screen reader. */
function MutedMark() {
  const { t } = useT();
  return (
    <span className="muted-mark" title={t('mute.muted')}>
      <BellOffIcon size={14} />
      <span className="sr-only"> {t('mute.muted')}</span>
    </span>
  );
}
