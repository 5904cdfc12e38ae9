//! The whole app: one `StompProvider` (one WebSocket to RabbitMQ for the tab) around the room
//! list, the open room, the toasts and the connection badge.
import { StompProvider, useRooms } from '@sotong/react';
import { useState } from 'react';
import { ChatView } from './ChatView';
import { ConnectionBadge } from './ConnectionBadge';
import { destinationsFor, roomsOf, type Session } from './people';
import { RoomList } from './RoomList';
import { Toasts } from './Toasts';

/** Connects as `session.me` and shows their chat. */
export function App({ session }: { session: Session }) {
  return (
    <StompProvider
      url={session.broker}
      // RabbitMQ's default user, which it accepts from loopback only. A real app passes
      // `token` (a function, asked again on every reconnect) and lets the broker check it.
      connectHeaders={{ login: 'guest', passcode: 'guest' }}
      me={session.me}
      rooms={roomsOf(session.me)}
      destinations={destinationsFor(session.run)}
      // Toasts stay until dismissed or until their room is opened.
      toastMs={0}
    >
      <Chat name={session.me.displayName} />
    </StompProvider>
  );
}

/** The screens inside the provider. */
function Chat({ name }: { name: string }) {
  const [openRoomId, setOpenRoomId] = useState<number | null>(null);
  const rooms = useRooms();
  const open = rooms.find((room) => room.id === openRoomId);
  return (
    <div className="app">
      <header className="top">
        <h1>{name}</h1>
        <ConnectionBadge />
      </header>
      <RoomList rooms={rooms} openRoomId={openRoomId} onOpen={setOpenRoomId} />
      <main className="main">
        {/* Keyed by room: a fresh view (and a fresh composer) per room. */}
        {open ? <ChatView key={open.id} roomId={open.id} /> : <p className="empty">Pick a room.</p>}
      </main>
      <Toasts onOpen={setOpenRoomId} />
    </div>
  );
}
