//! The logged-in layout: top bar (brand, connection status, the user's profile button), the room list (with the
//! desktop-notifications prompt above it until answered), the open chat, toasts, and the
//! new-room dialogs. The tab title counts unread messages; messages that arrive while the page
//! is not seen raise desktop notifications. On a phone-sized screen the list and the chat
//! take turns (`data-view`).
import { useEffect, useState } from 'react';
import { useNotifications, useRooms } from '@sotong/react';
import type { User } from '../api/types';
import { ProfileDialog } from '../features/auth/ProfileDialog';
import { useActivityReport } from '@sotong/react';
import { ChatView } from '../features/chat/ChatView';
import { PresenceSetting } from '../features/presence/PresenceSetting';
import { useDesktopNotifications, useUnreadTitle } from '../features/notifications/desktop';
import { NotificationPrompt } from '../features/notifications/NotificationPrompt';
import { usePushRegistration } from '../features/notifications/usePushRegistration';
import { Toasts } from '../features/notifications/Toasts';
import { NewDirectDialog } from '../features/rooms/NewDirectDialog';
import { NewGroupDialog } from '../features/rooms/NewGroupDialog';
import { RoomList } from '../features/rooms/RoomList';
import { SearchDialog } from '../features/search/SearchDialog';
import { useT } from '../i18n';
import { Avatar } from '../ui/Avatar';
import { LanguageSwitch } from '../ui/LanguageSwitch';
import { ConnectionBadge } from '../ui/ConnectionBadge';
import { GroupIcon, Logo, LogoutIcon, NewChatIcon, SearchIcon } from '../ui/icons';
import { navigate, roomIdOf, roomPath, usePath } from './router';

/** Props of `Shell`. */
export interface ShellProps {
  me: User;
  onLogout(): void;
  /** The user's display name changed (here, or on another device: a `user` event). */
  onProfileChange?(user: User): void;
  /** Every session of the user ended (log out everywhere from the profile). */
  onLoggedOutEverywhere?(): void;
}

/** The logged-in app. */
export function Shell({ me, onLogout, onProfileChange, onLoggedOutEverywhere }: ShellProps) {
  const roomId = roomIdOf(usePath());
  const [dialog, setDialog] = useState<'direct' | 'group' | 'search' | 'profile' | null>(null);
  // A search result to show: the chat opens scrolled to it (`nonce` tells two picks apart).
  const [jump, setJump] = useState<{ roomId: number; seq: number; nonce: number } | null>(null);
  const { t } = useT();
  const rooms = useRooms();
  const currentRoom = roomId === null ? null : (rooms.find((r) => r.id === roomId) ?? null);
  // Ctrl-K / Cmd-K opens the search from anywhere in the app, even while typing.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setDialog('search');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  useNotifications((event) => {
    if (event.type === 'user' && event.user.id === me.id && event.user.displayName !== me.displayName) onProfileChange?.(event.user);
  });
  useUnreadTitle();
  useDesktopNotifications();
  // Away while the page is hidden or idle for five minutes; online again on input.
  useActivityReport();
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
          <button type="button" className="me-button" onClick={() => setDialog('profile')} aria-label={t('profile.open')} title={t('profile.open')}>
            <Avatar name={me.displayName} size={30} />
            <span className="me-name">{me.displayName}</span>
          </button>
          <PresenceSetting />
          <LanguageSwitch className="topbar-language" />
          <button type="button" className="icon-button" onClick={onLogout} aria-label={t('shell.logOut')} title={t('shell.logOut')}>
            <LogoutIcon />
          </button>
        </div>
      </header>
      <div className="layout">
        <aside className="sidebar">
          <div className="sidebar-head">
            <h2>{t('shell.chats')}</h2>
            <div className="sidebar-actions">
              <button type="button" className="chip search-chip" onClick={() => setDialog('search')} aria-keyshortcuts="Control+K Meta+K" title={t('search.open')}>
                <SearchIcon />
                <span>{t('search.open')}</span>
              </button>
              <button type="button" className="chip" onClick={() => setDialog('direct')}>
                <NewChatIcon />
                <span>{t('shell.newDirect')}</span>
              </button>
              <button type="button" className="chip" onClick={() => setDialog('group')}>
                <GroupIcon />
                <span>{t('shell.newGroup')}</span>
              </button>
            </div>
          </div>
          <NotificationPrompt userId={me.id} />
          <RoomList activeRoomId={roomId} me={me} />
        </aside>
        <main className="main">{roomId === null ? <EmptyChat /> : <ChatView key={roomId} roomId={roomId} me={me} jumpTo={jump?.roomId === roomId ? jump : undefined} />}</main>
      </div>
      <Toasts />
      {dialog === 'direct' && <NewDirectDialog me={me} onClose={() => setDialog(null)} />}
      {dialog === 'group' && <NewGroupDialog me={me} onClose={() => setDialog(null)} />}
      {dialog === 'search' && (
        <SearchDialog
          currentRoom={currentRoom ? { id: currentRoom.id, name: currentRoom.name } : null}
          onClose={() => setDialog(null)}
          onPick={(pickedRoom, seq) => {
            setDialog(null);
            setJump({ roomId: pickedRoom, seq, nonce: Date.now() });
            navigate(roomPath(pickedRoom));
          }}
        />
      )}
      {dialog === 'profile' && (
        <ProfileDialog me={me} onProfileChange={(user) => onProfileChange?.(user)} onLoggedOutEverywhere={() => onLoggedOutEverywhere?.()} onClose={() => setDialog(null)} />
      )}
    </div>
  );
}

function EmptyChat() {
  const { t } = useT();
  return (
    <div className="empty-chat">
      <div className="empty-art" aria-hidden="true">
        <Logo size={72} />
      </div>
      <h2>{t('shell.empty.title')}</h2>
      <p>{t('shell.empty.text')}</p>
    </div>
  );
}
