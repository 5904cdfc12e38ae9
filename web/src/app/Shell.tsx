//! The logged-in layout: top bar (brand, connection status, user), the room list (with the
//! desktop-notifications prompt above it until answered), the open chat, toasts, and the
//! new-room dialogs. The tab title counts unread messages; messages that arrive while the page
//! is not seen raise desktop notifications. On a phone-sized screen the list and the chat
//! take turns (`data-view`).
import { useState } from 'react';
import type { User } from '../api/types';
import { ChatView } from '../features/chat/ChatView';
import { useDesktopNotifications, useUnreadTitle } from '../features/notifications/desktop';
import { NotificationPrompt } from '../features/notifications/NotificationPrompt';
import { usePushRegistration } from '../features/notifications/usePushRegistration';
import { Toasts } from '../features/notifications/Toasts';
import { NewDirectDialog } from '../features/rooms/NewDirectDialog';
import { NewGroupDialog } from '../features/rooms/NewGroupDialog';
import { RoomList } from '../features/rooms/RoomList';
import { Avatar } from '../ui/Avatar';
import { ConnectionBadge } from '../ui/ConnectionBadge';
import { GroupIcon, Logo, LogoutIcon, NewChatIcon } from '../ui/icons';
import { roomIdOf, usePath } from './router';

/** Props of `Shell`. */
export interface ShellProps {
  me: User;
  onLogout(): void;
}

/** The logged-in app. */
export function Shell({ me, onLogout }: ShellProps) {
  const roomId = roomIdOf(usePath());
  const [dialog, setDialog] = useState<'direct' | 'group' | null>(null);
  useUnreadTitle();
  useDesktopNotifications();
  usePushRegistration();
  return (
    <div className="app" data-view={roomId === null ? 'list' : 'chat'}>
      <header className="topbar">
        <div className="brand">
          <Logo size={28} />
          <span>sotong</span>
        </div>
        <ConnectionBadge />
        <div className="me">
          <Avatar name={me.displayName} size={30} />
          <span className="me-name">{me.displayName}</span>
          <button type="button" className="icon-button" onClick={onLogout} aria-label="Log out" title="Log out">
            <LogoutIcon />
          </button>
        </div>
      </header>
      <div className="layout">
        <aside className="sidebar">
          <div className="sidebar-head">
            <h2>Chats</h2>
            <div className="sidebar-actions">
              <button type="button" className="chip" onClick={() => setDialog('direct')}>
                <NewChatIcon />
                <span>New direct message</span>
              </button>
              <button type="button" className="chip" onClick={() => setDialog('group')}>
                <GroupIcon />
                <span>New group</span>
              </button>
            </div>
          </div>
          <NotificationPrompt userId={me.id} />
          <RoomList activeRoomId={roomId} me={me} />
        </aside>
        <main className="main">{roomId === null ? <EmptyChat /> : <ChatView key={roomId} roomId={roomId} me={me} />}</main>
      </div>
      <Toasts />
      {dialog === 'direct' && <NewDirectDialog me={me} onClose={() => setDialog(null)} />}
      {dialog === 'group' && <NewGroupDialog me={me} onClose={() => setDialog(null)} />}
    </div>
  );
}

function EmptyChat() {
  return (
    <div className="empty-chat">
      <div className="empty-art" aria-hidden="true">
        <Logo size={72} />
      </div>
      <h2>Pick a conversation</h2>
      <p>Choose a chat on the left, or start a new direct message or group.</p>
    </div>
  );
}
