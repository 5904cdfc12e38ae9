//! The members dialog and the profile dialog over the real realtime layer and the fake broker:
//! the member list (names, @usernames, presence slots), renaming and leaving a group through
//! the API, a `user` event renaming someone in the room list and the open chat, and the
//! profile's display name, password and log-out-everywhere actions with their error wording.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { RoomStore, type Room } from '@sotong/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError, createApi } from '../src/api/http';
import { roomPath } from '../src/app/router';
import { describeProfileError } from '../src/features/auth/ProfileDialog';
import { describeMembersError, sortedMembers } from '../src/features/rooms/MembersDialog';
import { renderShell, roomList, world } from './harness';

describe('the members dialog', () => {
  it('lists the members with @usernames and presence slots, and renames the group', async () => {
    const w = world();
    const renameRoom = vi.fn((roomId: number, name: string): Promise<Room> => Promise.resolve(w.broker.rename(roomId, name, w.alice.user)));
    renderShell(w, roomPath(w.group), { api: { ...createApi(), renameRoom } });
    await screen.findByRole('log', { name: 'Weekend trip' });
    fireEvent.click(screen.getByRole('button', { name: 'Members' }));
    const dialog = screen.getByRole('dialog', { name: 'Members' });
    const list = within(dialog).getByRole('list', { name: 'Members' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows.map((row) => row.querySelector('.member-name')?.textContent)).toEqual(['Alice @alice (You)', 'Bob @bob', 'Carol @carol']);
    expect(list.querySelectorAll('.presence-slot')).toHaveLength(3);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Rename' }));
    const field = within(dialog).getByRole('textbox', { name: 'Group name' });
    fireEvent.change(field, { target: { value: '  Ski trip ' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(renameRoom).toHaveBeenCalledWith(w.group, 'Ski trip'));
    await within(roomList()).findByRole('link', { name: /^Ski trip/ });
    expect(screen.getByRole('heading', { name: 'Ski trip' })).toBeTruthy();
  });

  it('says why a rename was refused', async () => {
    const w = world();
    const renameRoom = vi.fn(() => Promise.reject(new ApiError(400, 'invalid', 'bad name')));
    renderShell(w, roomPath(w.group), { api: { ...createApi(), renameRoom } });
    await screen.findByRole('log', { name: 'Weekend trip' });
    fireEvent.click(screen.getByRole('button', { name: 'Members' }));
    fireEvent.click(screen.getByRole('button', { name: 'Rename' }));
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect((await screen.findByRole('alert')).textContent).toBe('A group name has 1–100 visible characters.');
  });

  it('leaves a group after a confirmation: the room leaves the list', async () => {
    const w = world();
    const leaveRoom = vi.fn((roomId: number) => {
      w.broker.leave(roomId, w.alice.user);
      return Promise.resolve();
    });
    renderShell(w, roomPath(w.group), { api: { ...createApi(), leaveRoom } });
    await screen.findByRole('log', { name: 'Weekend trip' });
    fireEvent.click(screen.getByRole('button', { name: 'Members' }));
    fireEvent.click(screen.getByRole('button', { name: 'Leave group' }));
    const confirm = screen.getByRole('dialog', { name: 'Leave group?' });
    fireEvent.click(within(confirm).getByRole('button', { name: 'Leave' }));
    await waitFor(() => expect(leaveRoom).toHaveBeenCalledWith(w.group));
    await waitFor(() => expect(within(roomList()).queryByRole('link', { name: /^Weekend trip/ })).toBeNull());
  });

  it('offers no rename, add or leave in a direct room', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await screen.findByRole('log', { name: 'Bob' });
    fireEvent.click(screen.getByRole('button', { name: 'Members' }));
    const dialog = screen.getByRole('dialog', { name: 'Members' });
    expect(within(dialog).queryByRole('button', { name: 'Rename' })).toBeNull();
    expect(within(dialog).queryByRole('button', { name: 'Leave group' })).toBeNull();
    expect(within(dialog).queryByRole('textbox', { name: 'Add members' })).toBeNull();
  });
});

describe('a display name changed elsewhere', () => {
  it('renames the person in the room list and the members of the open chat', async () => {
    const w = world();
    renderShell(w, roomPath(w.group));
    await screen.findByRole('log', { name: 'Weekend trip' });
    await within(roomList()).findByRole('link', { name: /^Bob/ });
    act(() => {
      w.broker.renameUser(w.bob.user, 'Robert');
    });
    await within(roomList()).findByRole('link', { name: /^Robert/ });
    fireEvent.click(screen.getByRole('button', { name: 'Members' }));
    expect(within(screen.getByRole('list', { name: 'Members' })).getByText('Robert')).toBeTruthy();
  });

  it('updates the session when it is the user, from another device', async () => {
    const w = world();
    const onProfileChange = vi.fn();
    renderShell(w, '/', { shell: { onProfileChange } });
    await within(roomList()).findByRole('link', { name: /^Bob/ });
    act(() => {
      w.broker.renameUser(w.alice.user, 'Ally');
    });
    await waitFor(() => expect(onProfileChange).toHaveBeenCalledWith({ ...w.alice.user, displayName: 'Ally' }));
  });
});

describe('the profile dialog', () => {
  it('saves a display name, changes the password and logs out everywhere', async () => {
    const w = world();
    const updateMe = vi.fn((displayName: string) => Promise.resolve({ ...w.alice.user, displayName }));
    const changePassword = vi.fn(() => Promise.resolve());
    const logoutEverywhere = vi.fn(() => Promise.resolve());
    const onProfileChange = vi.fn();
    const onLoggedOutEverywhere = vi.fn();
    renderShell(w, '/', { api: { ...createApi(), updateMe, changePassword, logoutEverywhere }, shell: { onProfileChange, onLoggedOutEverywhere } });
    fireEvent.click(screen.getByRole('button', { name: 'Profile' }));
    const dialog = screen.getByRole('dialog', { name: 'Profile' });

    fireEvent.change(within(dialog).getByRole('textbox', { name: 'Display name' }), { target: { value: 'Alice Liddell' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save name' }));
    await within(dialog).findByText('Display name saved.');
    expect(onProfileChange).toHaveBeenCalledWith({ ...w.alice.user, displayName: 'Alice Liddell' });

    fireEvent.change(within(dialog).getByLabelText('Current password'), { target: { value: 'old password' } });
    fireEvent.change(within(dialog).getByLabelText('New password'), { target: { value: 'new password' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Change password' }));
    await within(dialog).findByText('Password changed. Your other sessions were logged out.');
    expect(changePassword).toHaveBeenCalledWith('old password', 'new password');

    fireEvent.click(within(dialog).getByRole('button', { name: 'Log out everywhere' }));
    await waitFor(() => expect(onLoggedOutEverywhere).toHaveBeenCalled());
    expect(logoutEverywhere).toHaveBeenCalled();
  });

  it('says so when the current password is wrong', async () => {
    const w = world();
    const changePassword = vi.fn(() => Promise.reject(new ApiError(403, 'wrong_password', 'the current password is wrong')));
    renderShell(w, '/', { api: { ...createApi(), changePassword } });
    fireEvent.click(screen.getByRole('button', { name: 'Profile' }));
    fireEvent.change(screen.getByLabelText('Current password'), { target: { value: 'guess' } });
    fireEvent.change(screen.getByLabelText('New password'), { target: { value: 'new password' } });
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The current password is wrong.');
  });
});

describe('account wording and helpers', () => {
  it('words each refusal by its code', () => {
    expect(describeProfileError(new ApiError(409, 'no_password', ''), 'password')).toMatch(/no password here/);
    expect(describeProfileError(new ApiError(400, 'invalid', ''), 'name')).toBe('A display name has 1–64 visible characters.');
    expect(describeProfileError(new ApiError(400, 'invalid', ''), 'password')).toBe('A password has at least 8 characters.');
    expect(describeProfileError(new TypeError('offline'), 'name')).toBe('Something went wrong. Please try again.');
    expect(describeMembersError(new ApiError(404, 'not_found', ''))).toMatch(/do not exist/);
    expect(describeMembersError(new ApiError(429, 'rate_limited', ''))).toMatch(/Too many changes/);
  });

  it('sorts members: the viewer first, then by display name', () => {
    const users = [
      { id: 3, username: 'zed', displayName: 'Zed' },
      { id: 1, username: 'me', displayName: 'Me' },
      { id: 2, username: 'amy', displayName: 'Amy' },
    ];
    expect(sortedMembers(users, 1).map((u) => u.username)).toEqual(['me', 'amy', 'zed']);
  });

  it('renames a user in every room holding them; a direct room takes the new name', () => {
    const store = new RoomStore();
    const alice = { id: 1, username: 'alice', displayName: 'Alice' };
    const bob = { id: 2, username: 'bob', displayName: 'Bob' };
    const base = { lastMessage: null, unread: 0, lastReadSeq: 0 };
    store.setAll([
      { id: 10, kind: 'direct', name: 'Bob', members: [alice, bob], ...base },
      { id: 11, kind: 'group', name: 'Team', members: [alice, bob], ...base },
      { id: 12, kind: 'group', name: 'Others', members: [alice], ...base },
    ]);
    const before = store.getSnapshot();
    store.updateUser({ ...bob, displayName: 'Robert' });
    expect(store.get(10)?.name).toBe('Robert');
    expect(store.get(11)?.name).toBe('Team');
    expect(store.get(11)?.members[1]?.displayName).toBe('Robert');
    expect(store.get(12)).toBe(before[2]);
  });
});
