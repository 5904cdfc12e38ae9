//! Drafts: unsent text stays with its room across room switches and reloads, per user, and a
//! send forgets it.
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { navigate, roomPath } from '../src/app/router';
import { draftKey } from '../src/features/chat/drafts';
import { act } from 'react';
import { renderShell, roomList, world } from './harness';

beforeEach(() => localStorage.clear());
afterEach(() => act(() => navigate('/')));

const composer = () => screen.getByRole('textbox', { name: 'Message' });

describe('drafts', () => {
  it('keeps a room’s unsent text across a room switch and a reload, per user, until sent', async () => {
    const w = world();
    const view = renderShell(w, roomPath(w.direct), { who: w.alice });
    await screen.findByRole('log', { name: 'Bob' });
    fireEvent.change(composer(), { target: { value: 'half a thought' } });

    fireEvent.click(await within(roomList()).findByRole('link', { name: /^Weekend trip/ }));
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('');
    fireEvent.change(composer(), { target: { value: 'for the group' } });

    fireEvent.click(within(roomList()).getByRole('link', { name: /^Bob/ }));
    await screen.findByRole('log', { name: 'Bob' });
    expect(composer()).toHaveValue('half a thought');

    // A reload: a new session of the app reads the drafts back.
    view.unmount();
    const again = renderShell(w, roomPath(w.group), { who: w.alice });
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('for the group');
    again.unmount();

    // Another user on this browser has drafts of their own.
    const bobView = renderShell(w, roomPath(w.group), { who: w.bob });
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('');
    bobView.unmount();

    renderShell(w, roomPath(w.group), { who: w.alice });
    await screen.findByRole('log', { name: 'Weekend trip' });
    fireEvent.keyDown(composer(), { key: 'Enter', code: 'Enter' });
    await waitFor(() => expect(w.broker.messages(w.group).map((m) => m.text)).toEqual(['for the group']));
    expect(composer()).toHaveValue('');
    expect(localStorage.getItem(draftKey(w.alice.user.id, w.group))).toBeNull();
    expect(localStorage.getItem(draftKey(w.alice.user.id, w.direct))).toBe('half a thought');
  });
});
