//! Editing and deleting in the app, over the real realtime layer and the fake broker: the
//! `Message actions` menu (Edit and Delete on own messages only; by keyboard too), the in-place editor (Enter
//! saves, Escape cancels, Enter during an IME composition does not save), "(edited)", the
//! delete confirmation, "Message deleted" in the log and the room list, refusals worded.
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { describeCode } from '../src/api/errors';
import { roomPath } from '../src/app/router';
import { messageRow, renderShell, world } from './harness';

async function openMenu(log: HTMLElement, text: string) {
  fireEvent.click(within(messageRow(log, text)).getByRole('button', { name: 'Message actions' }));
  return screen.findByRole('menu', { name: 'Message actions' });
}

describe('edit and delete in the app', () => {
  it('offers Edit and Delete on own messages only; edits in place with Enter, cancels with Escape, waits for an IME composition', async () => {
    const w = world({ carolInGroup: false });
    w.broker.post(w.direct, w.bob.user, 'from bob');
    w.broker.post(w.direct, w.alice.user, 'teh plan');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('teh plan');
    // Others' messages get Reply and React only.
    const theirs = await openMenu(log, 'from bob');
    expect(within(theirs).getAllByRole('menuitem').map((item) => item.textContent)).toEqual(['Reply', 'React']);
    fireEvent.keyDown(theirs, { key: 'Escape' });
    const mine = await openMenu(log, 'teh plan');
    expect(within(mine).getAllByRole('menuitem').map((item) => item.textContent)).toEqual(['Reply', 'React', 'Edit', 'Delete']);
    fireEvent.keyDown(mine, { key: 'Escape' });

    // Escape leaves the text as it was.
    fireEvent.click(within(await openMenu(log, 'teh plan')).getByRole('menuitem', { name: 'Edit' }));
    let box = await within(log).findByRole('textbox', { name: 'Edit message' });
    expect(box).toHaveValue('teh plan');
    fireEvent.change(box, { target: { value: 'discarded' } });
    fireEvent.keyDown(box, { key: 'Escape' });
    expect(within(log).queryByRole('textbox', { name: 'Edit message' })).toBeNull();
    expect(within(log).getByText('teh plan')).toBeTruthy();

    // Enter that ends a Korean composition does not save; the next Enter does.
    fireEvent.click(within(await openMenu(log, 'teh plan')).getByRole('menuitem', { name: 'Edit' }));
    box = await within(log).findByRole('textbox', { name: 'Edit message' });
    fireEvent.compositionStart(box);
    fireEvent.change(box, { target: { value: 'the plan 계획' } });
    fireEvent.keyDown(box, { key: 'Enter', isComposing: true });
    fireEvent.keyDown(box, { key: 'Enter', keyCode: 229 });
    expect(w.broker.frames('SEND', `/app/rooms/${w.direct}/messages/2/edit`)).toHaveLength(0);
    fireEvent.compositionEnd(box);
    fireEvent.keyDown(box, { key: 'Enter' });
    const edited = await within(log).findByText('(edited)');
    expect(edited.getAttribute('title')).toMatch(/^Edited /);
    expect(messageRow(log, 'the plan 계획')).toBeTruthy();
    await waitFor(() => expect(w.broker.messages(w.direct)[1]).toMatchObject({ text: 'the plan 계획', rev: 1 }));
  });

  it('opens the menu and moves through it by keyboard; Escape gives focus back to the button', async () => {
    const w = world({ carolInGroup: false });
    w.broker.post(w.direct, w.alice.user, 'mine');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('mine');
    const button = within(log).getByRole('button', { name: 'Message actions' });
    fireEvent.click(button);
    const menu = await screen.findByRole('menu', { name: 'Message actions' });
    await waitFor(() => expect(document.activeElement).toBe(within(menu).getByRole('menuitem', { name: 'Reply' })));
    fireEvent.keyDown(menu, { key: 'ArrowUp' });
    expect(document.activeElement).toBe(within(menu).getByRole('menuitem', { name: 'Delete' }));
    fireEvent.keyDown(menu, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(within(menu).getByRole('menuitem', { name: 'Reply' }));
    fireEvent.keyDown(menu, { key: 'Escape' });
    expect(screen.queryByRole('menu')).toBeNull();
    expect(document.activeElement).toBe(button);
  });

  it('deletes after a confirmation: "Message deleted" in the log and in the room list preview', async () => {
    const w = world({ carolInGroup: false });
    w.broker.post(w.direct, w.alice.user, 'regrettable');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('regrettable');

    fireEvent.click(within(await openMenu(log, 'regrettable')).getByRole('menuitem', { name: 'Delete' }));
    let dialog = await screen.findByRole('dialog', { name: 'Delete message?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(w.broker.frames('SEND', `/app/rooms/${w.direct}/messages/1/delete`)).toHaveLength(0);

    fireEvent.click(within(await openMenu(log, 'regrettable')).getByRole('menuitem', { name: 'Delete' }));
    dialog = await screen.findByRole('dialog', { name: 'Delete message?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    await within(log).findByText('Message deleted');
    expect(within(log).queryByText('regrettable')).toBeNull();
    expect(within(log).queryByRole('button', { name: 'Message actions' })).toBeNull();
    const rooms = screen.getByRole('navigation', { name: 'Rooms' });
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Bob/ })).toHaveTextContent('You: Message deleted'));
    await waitFor(() => expect(w.broker.messages(w.direct)[0]!.deletedAt).toBeTruthy());
  });

  it('shows the other side’s edit and delete live, and a deleted last message in a group preview', async () => {
    const w = world({ carolInGroup: false });
    const bobsMessage = w.broker.post(w.group, w.bob.user, 'see you at 8');
    renderShell(w, roomPath(w.direct));
    const rooms = screen.getByRole('navigation', { name: 'Rooms' });
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Weekend trip/ })).toHaveTextContent('see you at 8'));
    w.broker.change(w.group, bobsMessage.seq, w.bob.user, null);
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Weekend trip/ })).toHaveTextContent('@bob: Message deleted'));

    w.broker.post(w.direct, w.bob.user, 'lunch at 12?');
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('lunch at 12?');
    w.broker.change(w.direct, 1, w.bob.user, 'lunch at 1?');
    await within(log).findByText('(edited)');
    expect(messageRow(log, 'lunch at 1?')).toBeTruthy();
  });

  it('words a refusal and shows the message as it was', async () => {
    const w = world({ carolInGroup: false });
    w.broker.post(w.direct, w.alice.user, 'old news');
    w.broker.editWindowClosed = true;
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('old news');
    fireEvent.click(within(await openMenu(log, 'old news')).getByRole('menuitem', { name: 'Edit' }));
    const box = await within(log).findByRole('textbox', { name: 'Edit message' });
    fireEvent.change(box, { target: { value: 'new news' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    const alert = await within(log).findByRole('alert');
    expect(alert).toHaveTextContent(describeCode('edit_window_closed', 'edit'));
    expect(within(log).getByText('old news')).toBeTruthy();
    expect(within(log).queryByText('(edited)')).toBeNull();
  });
});

describe('wording of edit and delete errors', () => {
  it('has its own sentence for each code of the design', () => {
    expect(describeCode('not_author', 'edit')).toBe('You can only edit your own messages.');
    expect(describeCode('not_author', 'delete')).toBe('You can only delete your own messages.');
    expect(describeCode('deleted', 'edit')).toBe('This message was deleted, so it can no longer be edited.');
    expect(describeCode('edit_window_closed', 'edit')).toBe('This message is too old to edit. You can still delete it.');
    expect(describeCode('too_large', 'edit')).toBe('This message is too long.');
  });
});
