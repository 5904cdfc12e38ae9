//! The open chat: header, the message log, who is typing, and the composer. While mounted
//! the room is "on screen" (`useRoom`): its messages show here, not as toasts.
import type { User } from '../../api/types';
import { navigate } from '../../app/router';
import { useRoom } from '../../realtime';
import { Avatar } from '../../ui/Avatar';
import { BackIcon } from '../../ui/icons';
import { Composer } from './Composer';
import { MessageList } from './MessageList';

/** Props of `ChatView`. */
export interface ChatViewProps {
  roomId: number;
  me: User;
}

/** The chat. */
export function ChatView({ roomId, me }: ChatViewProps) {
  const { room, messages, hasOlder, loadingOlder, typing, send, retry, loadOlder, notifyTyping } = useRoom(roomId);
  const name = room?.name ?? 'Chat';
  const subtitle = !room
    ? ''
    : room.kind === 'group'
      ? room.members.map((m) => (m.id === me.id ? 'You' : m.displayName)).join(', ')
      : `@${room.members.find((m) => m.id !== me.id)?.username ?? ''}`;
  return (
    <section className="chat" aria-label={`Chat with ${name}`}>
      <header className="chat-head">
        <button type="button" className="icon-button back" aria-label="Back to rooms" onClick={() => navigate('/')}>
          <BackIcon />
        </button>
        <Avatar name={name} group={room?.kind === 'group'} size={38} />
        <div className="chat-title">
          <h2>{name}</h2>
          <p>{subtitle}</p>
        </div>
      </header>
      <MessageList name={name} messages={messages} me={me} hasOlder={hasOlder} loadingOlder={loadingOlder} loadOlder={loadOlder} onRetry={retry} />
      <div className="typing" aria-live="polite">
        {typing.length > 0 && (
          <>
            <span className="typing-dots" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
            {typing.length === 1 ? `${typing[0]!.displayName} is typing…` : `${typing.map((u) => u.displayName).join(', ')} are typing…`}
          </>
        )}
      </div>
      <Composer onSend={send} onTyping={notifyTyping} />
    </section>
  );
}
