//! The message log (`role="log"`, named after the room): day separators, own messages on
//! the right with their delivery state, older pages loaded on scroll-up with the scroll
//! position kept, and a stick-to-bottom that follows new messages unless the reader
//! scrolled up.
import { memo, useEffect, useLayoutEffect, useRef, type ReactNode } from 'react';
import type { User } from '../../api/types';
import { dayKey, dayLabel, timeOf } from '../../format';
import type { ChatMessage } from '@sotong/react';
import { CheckIcon, ClockIcon } from '../../ui/icons';
import { UserName } from '../../ui/UserName';

/** Props of `MessageList`. */
export interface MessageListProps {
  name: string;
  messages: readonly ChatMessage[];
  me: User;
  /** Show each sender's `@username` beside the display name (group rooms: names can be copied). */
  showUsernames?: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  loadOlder(): Promise<void>;
  onRetry(clientMsgId: string): void;
}

const NEAR_TOP = 120;
const NEAR_BOTTOM = 120;
const GROUP_WINDOW_MS = 5 * 60_000;

/** The log. */
export function MessageList({ name, messages, me, showUsernames = false, hasOlder, loadingOlder, loadOlder, onRetry }: MessageListProps) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const firstKey = useRef<string | undefined>(undefined);
  const lastKey = useRef<string | undefined>(undefined);

  const requestOlder = () => {
    const el = ref.current;
    if (!el || !hasOlder || loadingOlder) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    loadOlder().catch(() => {
      anchor.current = null;
    });
  };

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM;
    if (el.scrollTop < NEAR_TOP) requestOlder();
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const first = messages[0]?.key;
    const last = messages.at(-1);
    const prependedOlder = firstKey.current !== undefined && first !== firstKey.current && anchor.current;
    const appended = last?.key !== lastKey.current;
    if (prependedOlder && anchor.current) {
      el.scrollTop = el.scrollHeight - anchor.current.height + anchor.current.top;
      anchor.current = null;
    } else if (appended && (stick.current || last?.sender.id === me.id)) {
      el.scrollTop = el.scrollHeight;
      stick.current = true;
    }
    firstKey.current = first;
    lastKey.current = last?.key;
  }, [messages, me.id]);

  // Fill the viewport: with too few messages to scroll, scrolling up cannot ask for more.
  useEffect(() => {
    const el = ref.current;
    if (el && hasOlder && !loadingOlder && el.scrollHeight <= el.clientHeight + NEAR_TOP) {
      anchor.current = { height: el.scrollHeight, top: el.scrollTop };
      loadOlder().catch(() => {
        anchor.current = null;
      });
    }
  }, [hasOlder, loadingOlder, loadOlder, messages.length]);

  const continues = (previous: ChatMessage | undefined, message: ChatMessage) =>
    previous !== undefined &&
    dayKey(previous.sentAt) === dayKey(message.sentAt) &&
    previous.sender.id === message.sender.id &&
    Date.parse(message.sentAt) - Date.parse(previous.sentAt) < GROUP_WINDOW_MS;
  const rows: ReactNode[] = [];
  messages.forEach((message, index) => {
    const previous = messages[index - 1];
    const next = messages[index + 1];
    if (!previous || dayKey(previous.sentAt) !== dayKey(message.sentAt)) {
      const label = dayLabel(message.sentAt);
      rows.push(
        <div className="day" key={`day-${dayKey(message.sentAt)}`} role="separator" aria-label={label}>
          <span>{label}</span>
        </div>,
      );
    }
    rows.push(
      <MessageRow
        key={message.key}
        message={message}
        mine={message.sender.id === me.id}
        showUsername={showUsernames}
        continued={continues(previous, message)}
        last={!next || !continues(message, next)}
        onRetry={onRetry}
      />,
    );
  });

  return (
    <div className="log" role="log" aria-label={name} ref={ref} onScroll={onScroll} tabIndex={0}>
      <div className="log-top">
        {loadingOlder ? <span className="spinner" aria-label="Loading older messages" /> : !hasOlder && messages.length > 0 ? <span className="log-start">This is the beginning of your conversation.</span> : null}
      </div>
      {messages.length === 0 && !hasOlder && !loadingOlder && <p className="log-empty">No messages yet. Say hello 👋</p>}
      {rows}
    </div>
  );
}

interface MessageRowProps {
  message: ChatMessage;
  mine: boolean;
  showUsername: boolean;
  continued: boolean;
  /** Last of a run from one sender: shows the time. */
  last: boolean;
  onRetry(clientMsgId: string): void;
}

const MessageRow = memo(function MessageRow({ message, mine, showUsername, continued, last, onRetry }: MessageRowProps) {
  const classes = ['message', mine ? 'mine' : 'theirs', continued ? 'continued' : '', message.state].filter(Boolean).join(' ');
  const showName = !mine && !continued;
  return (
    <div className={classes} data-seq={message.seq ?? undefined}>
      <span className={showName ? 'sender' : 'sender sr-only'}>{showUsername ? <UserName user={message.sender} /> : message.sender.displayName}</span>
      <div className="bubble">{message.text}</div>
      <div className={last || message.state !== 'sent' ? 'meta' : 'meta sr-only'}>
        <time dateTime={message.sentAt}>{timeOf(message.sentAt)}</time>
        {mine && message.state === 'pending' && (
          <span className="state">
            <ClockIcon /> Sending…
          </span>
        )}
        {mine && message.state === 'sent' && (
          <span className="state sent">
            <CheckIcon />
            <span className="sr-only">Sent</span>
          </span>
        )}
        {mine && message.state === 'failed' && (
          <span className="state failed">
            Not sent{message.error ? `: ${message.error}` : '.'}{' '}
            <button type="button" className="link" onClick={() => message.clientMsgId && onRetry(message.clientMsgId)}>
              Retry
            </button>
          </span>
        )}
      </div>
    </div>
  );
});
