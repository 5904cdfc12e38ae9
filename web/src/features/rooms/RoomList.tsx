//! The room list: latest activity first, each room a link whose accessible name starts with
//! the room's name, then its unread count (with an `@` when some unread message mentions
//! the user: "mentioned" to a screen reader), then the last message.
import type { MouseEvent } from 'react';
import type { Room, User } from '../../api/types';
import { navigate, roomPath } from '../../app/router';
import { shortWhen } from '../../format';
import { useChatClient, useRooms } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { UserName } from '../../ui/UserName';
import { BellOffIcon } from '../../ui/icons';
import { useT } from '../../i18n';

/** Props of `RoomList`. */
export interface RoomListProps {
  activeRoomId: number | null;
  me: User;
}

/** The list. */
export function RoomList({ activeRoomId, me }: RoomListProps) {
  const rooms = useRooms();
  const loaded = useChatClient().rooms.isLoaded;
  return (
    <nav aria-label="Rooms" className="rooms">
      {rooms.length === 0 ? (
        <p className="rooms-empty">{loaded ? 'No conversations yet. Start one with a direct message or a group.' : 'Loading…'}</p>
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
  const href = roomPath(room.id);
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(href);
  };
  const last = room.lastMessage;
  const files = last?.attachments?.length ?? 0;
  const lastText = last?.deletedAt ? 'Message deleted' : last?.text || (files > 0 ? `📎 ${files === 1 ? (last?.attachments?.[0]?.name ?? 'file') : `${String(files)} files`}` : '');
  // In a group the sender is named, with the unique @username: a display name alone can be
  // anyone's (as in the messages and the toasts).
  const preview = !last ? (
    'No messages yet'
  ) : last.sender.id === me.id ? (
    `You: ${lastText}`
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
      {(room.unreadMentions ?? 0) > 0 && (
        <span className="mention-badge" title="You were mentioned">
          <span aria-hidden="true">@</span>
          <span className="sr-only"> mentioned</span>
        </span>
      )}
      {room.unread > 0 && (
        <span className="badge">
          {room.unread}
          <span className="sr-only"> unread</span>
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
