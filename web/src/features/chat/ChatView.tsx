//! The open chat: header, the message log, who is typing, and the composer. While mounted
//! the room is "on screen" (`useRoom`): its messages show here, not as toasts. A room the
//! user cannot see (`403` not a member, `404` no such room, a typed or stale link) shows why
//! and a way back, never an empty chat with a composer. Files dropped anywhere on the chat
//! join the composer's uploads; a reply in progress shows above the composer. The room is
//! on screen only while the page is seen (visible and focused): what arrives while the user is
//! away stays unread, and a "New messages" divider marks the first of it once they are back
//! (also on opening a room with unread messages); it stays until they leave the room or send.
//! What is typed and not sent stays as the room's draft (per user, across switches and reloads).
import { Fragment, useCallback, useEffect, useState, type DragEvent } from 'react';
import type { User } from '../../api/types';
import { describeCode } from '../../api/errors';
import { navigate } from '../../app/router';
import { useT } from '../../i18n';
import { usePageVisible, useReadMarks, useRoom, useRoomProblem, type ChatMessage, type RoomProblem } from '@sotong/react';
import { Avatar } from '../../ui/Avatar';
import { PresenceDot, PresenceText } from '../../ui/Presence';
import { BackIcon, GroupIcon } from '../../ui/icons';
import { MembersDialog } from '../rooms/MembersDialog';
import { nameWithHandle, UserName } from '../../ui/UserName';
import { MuteButton } from './MuteButton';
import { Composer, type ReplyTarget } from './Composer';
import { draftKey } from './drafts';
import { MessageList } from './MessageList';
import { oneLine } from './MessageParts';
import { useUploads } from './useUploads';

/** Props of `ChatView`. */
export interface ChatViewProps {
  roomId: number;
  me: User;
  /** A message to show (a search result): scrolled to and highlighted once held. */
  jumpTo?: { seq: number; nonce: number };
}

/** The chat. */
export function ChatView({ roomId, me, jumpTo }: ChatViewProps) {
  const { room, messages, hasOlder, loadingOlder, typing, send, reply, react, retry, edit, remove, loadOlder, notifyTyping } = useRoom(roomId);
  const problem = useRoomProblem(roomId);
  const seenMarks = useReadMarks(roomId);
  const uploads = useUploads(roomId);
  const [replySeq, setReplySeq] = useState<number | null>(null);
  const [dragging, setDragging] = useState(false);
  const [membersOpen, setMembersOpen] = useState(false);
  const { t } = useT();
  const startReply = useCallback((message: ChatMessage) => setReplySeq(message.seq), []);
  // Where the user's reading stopped: on opening the room (if it had unread messages) and each
  // time they went away. The divider goes after the latest of these that something followed.
  const [readMarks, setReadMarks] = useState<readonly number[]>(() => (room && room.unread > 0 ? [room.lastReadSeq] : []));
  const pageVisible = usePageVisible();
  const lastReadSeq = room?.lastReadSeq;
  useEffect(() => {
    if (!pageVisible && lastReadSeq !== undefined) setReadMarks((marks) => (marks.at(-1) === lastReadSeq ? marks : [...marks, lastReadSeq]));
  }, [pageVisible, lastReadSeq]);
  const firstUnread = firstUnreadSeq(messages, readMarks, me.id);
  if (!room) return problem ? <RoomUnavailable problem={problem} /> : <RoomLoading />;
  const original = replySeq === null ? undefined : messages.find((m) => m.seq === replySeq);
  const replyTo: ReplyTarget | null = original && original.seq !== null ? { seq: original.seq, sender: original.sender, text: oneLine(original.text), deleted: original.deleted } : null;
  const onSend = (text: string) => {
    const attachments = uploads.ready;
    if (replyTo) reply(text, replyTo.seq, attachments);
    else send(text, attachments.length > 0 ? { attachments } : undefined);
    setReplySeq(null);
    setReadMarks([]);
    uploads.clear();
  };
  const hasFiles = (e: DragEvent) => e.dataTransfer.types.includes('Files');
  const onDragOver = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  };
  const onDrop = (e: DragEvent) => {
    setDragging(false);
    if (!hasFiles(e)) return;
    e.preventDefault();
    uploads.add([...e.dataTransfer.files]);
  };
  const name = room.name;
  const other = room.kind === 'direct' ? room.members.find((m) => m.id !== me.id) : undefined;
  const subtitle =
    room.kind === 'group'
      ? room.members.map((m) => (m.id === me.id ? t('chat.you') : nameWithHandle(m))).join(', ')
      : `@${room.members.find((m) => m.id !== me.id)?.username ?? ''}`;
  return (
    <section
      className={dragging ? 'chat dragging' : 'chat'}
      aria-label={t('chat.label', { name })}
      onDragOver={onDragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <header className="chat-head">
        <BackButton />
        <span className="avatar-presence">
          <Avatar name={name} group={room.kind === 'group'} size={38} />
          {other && <PresenceDot userId={other.id} />}
        </span>
        <div className="chat-title">
          <h2>{name}</h2>
          <p title={subtitle}>
            {subtitle}
            {other && (
              <>
                {' · '}
                <PresenceText userId={other.id} />
              </>
            )}
          </p>
        </div>
        <MuteButton roomId={room.id} muted={room.muted ?? false} />
        <button type="button" className="button ghost members-button" onClick={() => setMembersOpen(true)}>
          <GroupIcon />
          <span>{t('members.open')}</span>
        </button>
      </header>
      {membersOpen && <MembersDialog roomId={roomId} me={me} onClose={() => setMembersOpen(false)} />}
      <MessageList
        name={name}
        messages={messages}
        me={me}
        firstUnreadSeq={firstUnread}
        showUsernames={room.kind === 'group'}
        hasOlder={hasOlder}
        loadingOlder={loadingOlder}
        loadOlder={loadOlder}
        onRetry={retry}
        onEdit={edit}
        onDelete={remove}
        members={room.members}
        onReply={startReply}
        onReact={react}
        jumpTo={jumpTo}
        readMarks={seenMarks}
        direct={room.kind === 'direct'}
      />
      <div className="typing" aria-live="polite">
        {typing.length > 0 && (
          <>
            <span className="typing-dots" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
            <Typing users={typing} withUsernames={room.kind === 'group'} />
          </>
        )}
      </div>
      <Composer
        onSend={onSend}
        onTyping={notifyTyping}
        members={room.members}
        me={me}
        replyTo={replyTo}
        onCancelReply={() => setReplySeq(null)}
        uploads={uploads.uploads}
        uploading={uploads.busy}
        onAddFiles={uploads.add}
        onRemoveUpload={uploads.remove}
        draftKey={draftKey(me.id, roomId)}
      />
    </section>
  );
}

/**
 * The first message from someone else after the latest read mark that any message follows:
 * where the "New messages" divider goes (none when nothing came after any mark).
 */
function firstUnreadSeq(messages: readonly ChatMessage[], readMarks: readonly number[], meId: number): number | undefined {
  for (const mark of [...readMarks].reverse()) {
    const first = messages.find((m) => m.seq !== null && m.seq > mark && m.sender.id !== meId);
    if (first?.seq != null) return first.seq;
  }
  return undefined;
}

/** Who is typing: in a group with the unique @username too, as the messages name them. */
function Typing({ users, withUsernames }: { users: readonly User[]; withUsernames: boolean }) {
  const { tParts } = useT();
  const [before, after] = tParts(users.length === 1 ? 'chat.typing.one' : 'chat.typing.other', 'names');
  return (
    <span>
      {before}
      {users.map((user, index) => (
        <Fragment key={user.id}>
          {index > 0 && ', '}
          {withUsernames ? <UserName user={user} /> : user.displayName}
        </Fragment>
      ))}
      {after}
    </span>
  );
}

function BackButton() {
  const { t } = useT();
  return (
    <button type="button" className="icon-button back" aria-label={t('chat.back')} onClick={() => navigate('/')}>
      <BackIcon />
    </button>
  );
}

/** While the server is asked about a room the list does not hold (a deep link). */
function RoomLoading() {
  const { t } = useT();
  return (
    <section className="chat" aria-label={t('chat.opening')} aria-busy="true">
      <header className="chat-head bare">
        <BackButton />
      </header>
      <div className="room-state">
        <span className="spinner" aria-label={t('chat.loading')} />
      </div>
    </section>
  );
}

/**
 * The room is not the user's, or does not exist: say so, offer the way back, no composer.
 * One way back, the same on a desktop and a phone (no header Back icon beside it).
 */
function RoomUnavailable({ problem }: { problem: RoomProblem }) {
  const { t } = useT();
  const title = problem === 'forbidden' ? t('chat.forbidden.title') : t('chat.notFound.title');
  return (
    <section className="chat" aria-label={title}>
      <div className="room-state" role="alert">
        <h2>{title}</h2>
        <p>{problem === 'forbidden' ? t('chat.forbidden.text', { reason: describeCode('forbidden', 'openRoom') }) : t('chat.notFound.text', { reason: describeCode('not_found', 'openRoom') })}</p>
        <button type="button" className="button primary" onClick={() => navigate('/')}>
          {t('chat.backToChats')}
        </button>
      </div>
    </section>
  );
}
