//! One room on screen. `useRoom` marks the room visible while this is mounted and the page is
//! seen (visible and focused): its messages show here (never as toasts), and it stays read.
import { useRoom } from '@sotong/react';
import { Composer } from './Composer';

/** The open room: its messages in a log named after it, who is typing, and the composer. */
export function ChatView({ roomId }: { roomId: number }) {
  const { room, messages, typing, send, retry, notifyTyping } = useRoom(roomId);
  const name = room?.name ?? `Room ${String(roomId)}`;
  return (
    <section className="chat" aria-label={name}>
      <h2>{name}</h2>
      <ol className="messages" role="log" aria-label={name}>
        {messages.map((message) => (
          <li key={message.key} className={`message message-${message.state}`}>
            <span className="sender">{message.sender.displayName}</span>
            <span className="text">{message.text}</span>
            {message.state === 'pending' && <span className="state">sending…</span>}
            {message.state === 'failed' && message.clientMsgId && (
              <button type="button" onClick={() => retry(message.clientMsgId ?? '')}>
                Retry
              </button>
            )}
          </li>
        ))}
      </ol>
      <p className="typing" aria-live="polite">
        {typing.length > 0 && `${typing.map((user) => user.displayName).join(', ')} typing…`}
      </p>
      <Composer onSend={send} onTyping={notifyTyping} />
    </section>
  );
}
