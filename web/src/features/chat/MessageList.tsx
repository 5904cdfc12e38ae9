//! The message log (`role="log"`, named after the room): day separators, own messages on
//! the right with their delivery state, older pages loaded on scroll-up with the scroll
//! position kept, and a stick-to-bottom that follows new messages unless the reader
//! scrolled up. Every stored message carries `Message actions`: `Reply` and `React`, and on
//! the user's own `Edit` (in place) and `Delete` (after a confirmation); an edited message
//! says "(edited)" with the time as its title, a deleted one shows "Message deleted" instead
//! of its text. Text is formatted (formatText), a reply shows the quote of its original
//! (which jumps to it: older pages load until it is held, then it is scrolled to and
//! highlighted), reactions show as chips, attachments as thumbnails or download cards. A
//! "New messages" divider sits above the first unread message, when the chat says which; on
//! opening a room whose first unread message is above the fold, the log starts there.
//! Read receipts (SeenBy): in a group, beside each message, how many members have not read it
//! (a button opening who has); in a direct room "Seen" under the last own message the other
//! member has read. Scrolled up, a "Jump to latest" button counts what came in below.
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { describeError } from '../../api/errors';
import type { User } from '../../api/types';
import { dayKey, dayLabel, fullWhen, timeOf } from '../../format';
import { seenBy, unreadBy, type ChatMessage } from '@sotong/react';
import { CheckIcon, ClockIcon } from '../../ui/icons';
import { useT } from '../../i18n';
import { UserName } from '../../ui/UserName';
import { formatText, type MentionStyle } from './formatText';
import { ConfirmDelete, MessageActions } from './MessageActions';
import { MessageEditor } from './MessageEditor';
import { Attachments, quoteOf, ReactionChips, ReactionPicker, ReplyQuote } from './MessageParts';
import { JumpToLatest, SeenByDialog, SeenMark, UnreadBy } from './SeenBy';

/** Props of `MessageList`. */
export interface MessageListProps {
  name: string;
  messages: readonly ChatMessage[];
  me: User;
  /** The seq of the first message the user has not read: a "New messages" divider goes above it. */
  firstUnreadSeq?: number;
  /** Show each sender's `@username` beside the display name (group rooms: names can be copied). */
  showUsernames?: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  loadOlder(): Promise<void>;
  onRetry(clientMsgId: string): void;
  /** Edits one of the user's messages; rejects when the server refuses. */
  onEdit(seq: number, text: string): Promise<void>;
  /** Deletes one of the user's messages; rejects when the server refuses. */
  onDelete(seq: number): Promise<void>;
  /** The room's members (names of who reacted, mentions). */
  members?: readonly User[];
  /** Starts a reply to the message. */
  onReply?(message: ChatMessage): void;
  /** Adds or takes back the user's reaction; rejects when the server refuses. */
  onReact?(seq: number, emoji: string, add: boolean): Promise<void>;
  /** A message to show (a search result): loaded, scrolled to and highlighted as a reply's original is. */
  jumpTo?: { seq: number; nonce: number };
  /** Members' read marks (user id to last seq read); none known: no receipts shown. */
  readMarks?: ReadonlyMap<number, number>;
  /** A direct room shows "Seen"; a group shows unread numbers. */
  direct?: boolean;
}

const NEAR_TOP = 120;
const NEAR_BOTTOM = 120;
const GROUP_WINDOW_MS = 5 * 60_000;

/** The log. */
export function MessageList({ name, messages, me, firstUnreadSeq, showUsernames = false, hasOlder, loadingOlder, loadOlder, onRetry, onEdit, onDelete, members = NO_MEMBERS, onReply = noop, onReact = noReact, readMarks = NO_MARKS, direct = false, jumpTo }: MessageListProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrolledUp, setScrolledUp] = useState(false);
  const [newBelow, setNewBelow] = useState(0);
  const [seenByOf, setSeenByOf] = useState<number | null>(null);
  const jumpedToUnread = useRef<number | undefined>(undefined);
  // Direct room: the last own stored message the other member has read carries "Seen".
  const seenSeq = useMemo(() => {
    if (!direct || readMarks.size === 0) return null;
    const other = members.find((m) => m.id !== me.id);
    const mark = other ? (readMarks.get(other.id) ?? 0) : 0;
    const seen = messages.filter((m) => m.sender.id === me.id && m.seq !== null && m.seq <= mark && !m.deleted).at(-1);
    return seen?.seq ?? null;
  }, [direct, readMarks, members, me.id, messages]);
  const [jumpTarget, setJumpTarget] = useState<number | null>(null);
  const [highlight, setHighlight] = useState<number | null>(null);
  const { t } = useT();
  const names = useMemo(() => new Map(members.map((m) => [m.id, m.displayName])), [members]);
  const usernames = useMemo(() => new Map(members.map((m) => [m.id, m.username.toLowerCase()])), [members]);
  const bySeq = useMemo(() => new Map(messages.flatMap((m) => (m.seq === null ? [] : [[m.seq, m] as const]))), [messages]);

  // A search result to show: the same jump, once the chat holds its first page.
  const hasMessages = messages.length > 0;
  const jumped = useRef<number | null>(null);
  useEffect(() => {
    if (!jumpTo || !hasMessages || jumped.current === jumpTo.nonce) return;
    jumped.current = jumpTo.nonce;
    setJumpTarget(jumpTo.seq);
  }, [jumpTo, hasMessages]);
  // Jumping to a reply's original: load older pages until it is held, then scroll to it.
  useEffect(() => {
    if (jumpTarget === null) return;
    const el = ref.current?.querySelector<HTMLElement>(`[data-seq="${String(jumpTarget)}"]`);
    if (el) {
      el.scrollIntoView?.({ block: 'center', behavior: 'smooth' });
      stick.current = false;
      setHighlight(jumpTarget);
      setJumpTarget(null);
      const timer = setTimeout(() => setHighlight(null), 2_000);
      return () => clearTimeout(timer);
    }
    if (!hasOlder) {
      setJumpTarget(null);
      return;
    }
    if (!loadingOlder) loadOlder().catch(() => setJumpTarget(null));
    return undefined;
  }, [jumpTarget, messages, hasOlder, loadingOlder, loadOlder]);
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
    setScrolledUp(!stick.current);
    if (stick.current) setNewBelow(0);
    if (el.scrollTop < NEAR_TOP) requestOlder();
  };

  const jumpToLatest = () => {
    const el = ref.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    stick.current = true;
    setScrolledUp(false);
    setNewBelow(0);
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
    } else if (appended && lastKey.current !== undefined && last) {
      // Scrolled up: the new message waits below, counted on the jump button.
      setNewBelow((n) => n + 1);
    }
    // Opening a room whose first unread message is above the fold: start at it.
    if (firstUnreadSeq !== undefined && jumpedToUnread.current !== firstUnreadSeq) {
      const divider = el.querySelector<HTMLElement>('.new-messages');
      if (divider) {
        jumpedToUnread.current = firstUnreadSeq;
        // The divider's place in the log's content (offsetTop is relative to a positioned ancestor, not the log).
        const top = divider.getBoundingClientRect().top - el.getBoundingClientRect().top + el.scrollTop;
        if (el.scrollHeight - top > el.clientHeight) {
          el.scrollTop = Math.max(0, top - 8);
          stick.current = false;
          setScrolledUp(true);
        }
      }
    }
    firstKey.current = first;
    lastKey.current = last?.key;
  }, [messages, me.id, firstUnreadSeq]);

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
  const seenByMessage = seenByOf === null ? undefined : bySeq.get(seenByOf);
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
    if (firstUnreadSeq !== undefined && message.seq === firstUnreadSeq) {
      rows.push(
        <div className="new-messages" key="new-messages" role="separator" aria-label={t('log.newMessages')}>
          <span>{t('log.newMessages')}</span>
        </div>,
      );
    }
    const unreadCount = !direct && readMarks.size > 0 && message.seq !== null && !message.deleted ? unreadBy(message, members, readMarks).length : 0;
    rows.push(
      <MessageRow
        key={message.key}
        unreadCount={unreadCount}
        seen={message.seq !== null && message.seq === seenSeq}
        onSeenBy={setSeenByOf}
        message={message}
        original={message.replyTo ? bySeq.get(message.replyTo.seq) : undefined}
        highlighted={message.seq !== null && message.seq === highlight}
        names={names}
        usernames={usernames}
        meId={me.id}
        onReply={onReply}
        onReact={onReact}
        onJump={setJumpTarget}
        mine={message.sender.id === me.id}
        showUsername={showUsernames}
        continued={continues(previous, message)}
        last={!next || !continues(message, next)}
        onRetry={onRetry}
        onEdit={onEdit}
        onDelete={onDelete}
      />,
    );
  });

  return (
    <div className="log" role="log" aria-label={name} ref={ref} onScroll={onScroll} tabIndex={0}>
      <div className="log-top">
        {loadingOlder ? <span className="spinner" aria-label={t('log.loadingOlder')} /> : !hasOlder && messages.length > 0 ? <span className="log-start">{t('log.start')}</span> : null}
      </div>
      {messages.length === 0 && !hasOlder && !loadingOlder && <p className="log-empty">{t('log.empty')}</p>}
      {rows}
      {scrolledUp && <JumpToLatest newBelow={newBelow} onJump={jumpToLatest} />}
      {seenByMessage && <SeenByDialog read={seenBy(seenByMessage, members, readMarks)} unread={unreadBy(seenByMessage, members, readMarks)} onClose={() => setSeenByOf(null)} />}
    </div>
  );
}

const NO_MEMBERS: readonly User[] = [];
const NO_MARKS: ReadonlyMap<number, number> = new Map();
/** Room the reaction picker needs below a message, in px. */
const PICKER_HEIGHT = 230;
const noop = () => {};
const noReact = () => Promise.resolve();

interface MessageRowProps {
  message: ChatMessage;
  /** Group: members who have not read it (0: nothing shown). */
  unreadCount: number;
  /** Direct: the last own message the other member has read. */
  seen: boolean;
  onSeenBy(seq: number): void;
  /** The local copy of the message this one answers, when held. */
  original: ChatMessage | undefined;
  /** Just jumped to: shown highlighted for a moment. */
  highlighted: boolean;
  names: ReadonlyMap<number, string>;
  usernames: ReadonlyMap<number, string>;
  meId: number;
  onReply(message: ChatMessage): void;
  onReact(seq: number, emoji: string, add: boolean): Promise<void>;
  onJump(seq: number): void;
  mine: boolean;
  showUsername: boolean;
  continued: boolean;
  /** Last of a run from one sender: shows the time. */
  last: boolean;
  onRetry(clientMsgId: string): void;
  onEdit(seq: number, text: string): Promise<void>;
  onDelete(seq: number): Promise<void>;
}

const MessageRow = memo(function MessageRow({ message, unreadCount, seen, onSeenBy, original, highlighted, names, usernames, meId, onReply, onReact, onJump, mine, showUsername, continued, last, onRetry, onEdit, onDelete }: MessageRowProps) {
  const [editing, setEditing] = useState(false);
  const { t } = useT();
  const [picking, setPicking] = useState<'down' | 'up' | null>(null);
  const lineRef = useRef<HTMLDivElement>(null);
  // The picker opens upwards when the log has no room for it below the message.
  const openPicker = () => {
    const line = lineRef.current;
    const log = line?.closest('.log');
    setPicking(line && log && line.getBoundingClientRect().bottom + PICKER_HEIGHT > log.getBoundingClientRect().bottom ? 'up' : 'down');
  };
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const seq = message.seq;
  // Only a stored message of one's own can change; a tombstone stays as it is.
  const changeable = mine && message.state === 'sent' && seq !== null && !message.deleted;
  const actionable = message.state === 'sent' && seq !== null && !message.deleted;
  const classes = ['message', mine ? 'mine' : 'theirs', continued ? 'continued' : '', message.state, message.deleted ? 'deleted' : '', editing ? 'editing' : '', highlighted ? 'highlighted' : '']
    .filter(Boolean)
    .join(' ');
  const showName = !mine && !continued;
  const save = (text: string) => {
    setEditing(false);
    setProblem(null);
    if (seq !== null) onEdit(seq, text).catch((error: unknown) => setProblem(describeError(error, 'edit')));
  };
  const remove = () => {
    setProblem(null);
    if (seq !== null) onDelete(seq).catch((error: unknown) => setProblem(describeError(error, 'delete')));
  };
  const react = (emoji: string, add: boolean) => {
    setProblem(null);
    if (seq !== null) onReact(seq, emoji, add).catch((error: unknown) => setProblem(describeError(error, 'react')));
  };
  const mentionStyle: MentionStyle | undefined =
    message.mentions.length > 0 ? { usernames: new Set(message.mentions.flatMap((id) => usernames.get(id) ?? [])), me: usernames.get(meId) } : undefined;
  const quote = message.replyTo ? quoteOf(message.replyTo, original) : null;
  return (
    <div className={classes} data-seq={seq ?? undefined}>
      <span className={showName ? 'sender' : 'sender sr-only'}>{showUsername ? <UserName user={message.sender} /> : message.sender.displayName}</span>
      {editing && changeable ? (
        <MessageEditor initialText={message.text} onSave={save} onCancel={() => setEditing(false)} />
      ) : (
        <div className="line" ref={lineRef}>
          {message.deleted ? (
            <div className="bubble deleted">{t('log.deleted')}</div>
          ) : (
            <div className={message.text ? 'bubble' : 'bubble files-only'}>
              {quote && <ReplyQuote quote={quote} onJump={onJump} />}
              <Attachments attachments={message.attachments} />
              {message.text && <div className="text">{formatText(message.text, mentionStyle)}</div>}
              {message.editedAt && (
                <span className="edited" title={t('log.editedAt', { when: fullWhen(message.editedAt) })}>
                  {' '}
                  {t('log.edited')}
                </span>
              )}
            </div>
          )}
          {seq !== null && <UnreadBy count={unreadCount} onOpen={() => onSeenBy(seq)} />}
          {actionable && (
            <MessageActions
              onReply={() => onReply(message)}
              onReact={openPicker}
              onEdit={changeable ? () => setEditing(true) : undefined}
              onDelete={changeable ? () => setConfirming(true) : undefined}
            />
          )}
          {picking && (
            <ReactionPicker
              upwards={picking === 'up'}
              onPick={(emoji) => react(emoji, !message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(meId)))}
              onClose={() => setPicking(null)}
            />
          )}
        </div>
      )}
      {!message.deleted && <ReactionChips reactions={message.reactions} names={names} meId={meId} onToggle={react} />}
      {confirming && <ConfirmDelete onConfirm={remove} onClose={() => setConfirming(false)} />}
      {problem && (
        <p className="message-problem" role="alert">
          {problem}{' '}
          <button type="button" className="link" onClick={() => setProblem(null)}>
            {t('log.dismiss')}
          </button>
        </p>
      )}
      <div className={last || seen || message.state !== 'sent' ? 'meta' : 'meta sr-only'}>
        <time dateTime={message.sentAt}>{timeOf(message.sentAt)}</time>
        {mine && message.state === 'pending' && (
          <span className="state">
            <ClockIcon /> {t('log.sending')}
          </span>
        )}
        {mine && message.state === 'sent' && (
          <span className="state sent">
            <CheckIcon />
            <span className="sr-only">{t('log.sent')}</span>
          </span>
        )}
        {seen && <SeenMark />}
        {mine && message.state === 'failed' && (
          <span className="state failed">
            {t('log.notSent')}
            {message.error ? `: ${message.error}` : '.'}{' '}
            <button type="button" className="link" onClick={() => message.clientMsgId && onRetry(message.clientMsgId)}>
              {t('log.retry')}
            </button>
          </span>
        )}
      </div>
    </div>
  );
});
