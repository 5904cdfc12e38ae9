//! The rooms of the user (latest activity first) in a navigation named `Rooms`; each is a
//! button named after the room, followed by `N unread` when it has unread messages.
import type { Room } from '@sotong/react';

/** Props of `RoomList`. */
export interface RoomListProps {
  rooms: readonly Room[];
  openRoomId: number | null;
  onOpen(roomId: number): void;
}

/** The list. */
export function RoomList({ rooms, openRoomId, onOpen }: RoomListProps) {
  return (
    <nav className="rooms" aria-label="Rooms">
      <ul>
        {rooms.map((room) => (
          <li key={room.id}>
            <button type="button" aria-current={room.id === openRoomId ? 'true' : undefined} onClick={() => onOpen(room.id)}>
              <span className="room-name">{room.name}</span>
              {room.unread > 0 && (
                <span className="unread" aria-label={`${String(room.unread)} unread`}>
                  {room.unread}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
