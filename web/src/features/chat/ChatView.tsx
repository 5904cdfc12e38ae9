//! The open chat: header, the message log, who is typing, and the composer. While mounted
//! the room is "on screen" (`useRoom`): its messages show here, not as toasts. A room the
//! user cannot see (`403` not a member, `404` no such room, a typed or stale link) shows why
//! and a way back, never an empty chat with a composer.
import { Fragment } from 'react';
import type { User } from '../../api/types';
import { describeCode } from '../../api/errors';
import { navigate } from '../../app/router';
import { useRoom, useRoomProblem, type RoomProblem } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { BackIcon } from '../../ui/icons';
import { nameWithHandle, UserName } from '../../ui/UserName';
import { Composer } from './Composer';
import { MessageList } from './MessageList';

/** Props of `ChatView`. */
export interface ChatViewProps {
  roomId: number;
  me: User;
}

/** The chat. */
export function ChatView({ roomId, me }: ChatViewProps) {
  const { room, messages, hasOlder, loadingOlder, typing, send, retry, edit, remove, loadOlder, notifyTyping } = useRoom(roomId);
  const problem = useRoomProblem(roomId);
  if (!room) return problem ? <RoomUnavailable problem={problem} /> : <RoomLoading />;
  const name = room.name;
  const subtitle =
    room.kind === 'group'
      ? room.members.map((m) => (m.id === me.id ? 'You' : nameWithHandle(m))).join(', ')
      : `@${room.members.find((m) => m.id !== me.id)?.username ?? ''}`;
  return (
    <section className="chat" aria-label={`Chat with ${name}`}>
      <header className="chat-head">
        <BackButton />
        <Avatar name={name} group={room.kind === 'group'} size={38} />
        <div className="chat-title">
          <h2>{name}</h2>
          <p title={subtitle}>{subtitle}</p>
        </div>
      </header>
      <MessageList
        name={name}
        messages={messages}
        me={me}
        showUsernames={room.kind === 'group'}
        hasOlder={hasOlder}
        loadingOlder={loadingOlder}
        loadOlder={loadOlder}
        onRetry={retry}
        onEdit={edit}
        onDelete={remove}
      />
      <div className="typing" aria-live="polite">
        {typing.length > 0 && (
          <>
            <span className="typing-dots" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
            <span>
              <TypingNames users={typing} withUsernames={room.kind === 'group'} /> {typing.length === 1 ? 'is' : 'are'} typing…
            </span>
          </>
        )}
      </div>
      <Composer onSend={send} onTyping={notifyTyping} />
    </section>
  );
}

/** Who is typing: in a group with the unique @username too, as the messages name them. */
function TypingNames({ users, withUsernames }: { users: readonly User[]; withUsernames: boolean }) {
  return users.map((user, index) => (
    <Fragment key={user.id}>
      {index > 0 && ', '}
      {withUsernames ? <UserName user={user} /> : user.displayName}
    </Fragment>
  ));
}

function BackButton() {
  return (
    <button type="button" className="icon-button back" aria-label="Back to rooms" onClick={() => navigate('/')}>
      <BackIcon />
    </button>
  );
}

/** While the server is asked about a room the list does not hold (a deep link). */
function RoomLoading() {
  return (
    <section className="chat" aria-label="Opening conversation" aria-busy="true">
      <header className="chat-head bare">
        <BackButton />
      </header>
      <div className="room-state">
        <span className="spinner" aria-label="Loading conversation" />
      </div>
    </section>
  );
}

/**
 * The room is not the user's, or does not exist: say so, offer the way back, no composer.
 * One way back, the same on a desktop and a phone (no header Back icon beside it).
 */
function RoomUnavailable({ problem }: { problem: RoomProblem }) {
  const title = problem === 'forbidden' ? 'You are not in this conversation' : 'Conversation not found';
  return (
    <section className="chat" aria-label={title}>
      <div className="room-state" role="alert">
        <h2>{title}</h2>
        <p>{problem === 'forbidden' ? `${describeCode('forbidden', 'openRoom')} Ask a member to add you.` : `${describeCode('not_found', 'openRoom')} It may have been mistyped.`}</p>
        <button type="button" className="button primary" onClick={() => navigate('/')}>
          Back to your chats
        </button>
      </div>
    </section>
  );
}
