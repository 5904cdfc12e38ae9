//! Drafts: unsent text stays with its room across room switches and reloads, per user, and a
//! send forgets it.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../src/api/http';
import { ApiContext } from '../src/app/ApiContext';
import { navigate, roomPath } from '../src/app/router';
import { Shell } from '../src/app/Shell';
import { draftKey } from '../src/features/chat/drafts';
import { SotongProvider } from '@sotong/react';
import { act } from 'react';
import { FakeBroker } from '../packages/react/test/fakeBroker';
import { optionsFor } from '../packages/react/test/helpers';
import type { User } from '../src/api/types';

beforeEach(() => localStorage.clear());
afterEach(() => act(() => navigate('/')));

function world() {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const carol = broker.addUser('carol');
  const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
  const group = broker.addRoom('group', 'Weekend trip', [alice.user, bob.user, carol.user]);
  return { broker, alice, bob, carol, direct, group };
}

function renderShell(w: ReturnType<typeof world>, who: { user: User; token: string }, path: string) {
  window.history.pushState(null, '', path);
  return render(
    <ApiContext.Provider value={createApi()}>
      <SotongProvider {...optionsFor(w.broker, who.user, who.token)}>
        <Shell me={who.user} onLogout={() => {}} />
      </SotongProvider>
    </ApiContext.Provider>,
  );
}

const composer = () => screen.getByRole('textbox', { name: 'Message' });
const rooms = () => screen.getByRole('navigation', { name: 'Rooms' });

describe('drafts', () => {
  it('keeps a room’s unsent text across a room switch and a reload, per user, until sent', async () => {
    const w = world();
    const view = renderShell(w, w.alice, roomPath(w.direct));
    await screen.findByRole('log', { name: 'Bob' });
    fireEvent.change(composer(), { target: { value: 'half a thought' } });

    fireEvent.click(await within(rooms()).findByRole('link', { name: /^Weekend trip/ }));
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('');
    fireEvent.change(composer(), { target: { value: 'for the group' } });

    fireEvent.click(within(rooms()).getByRole('link', { name: /^Bob/ }));
    await screen.findByRole('log', { name: 'Bob' });
    expect(composer()).toHaveValue('half a thought');

    // A reload: a new session of the app reads the drafts back.
    view.unmount();
    const again = renderShell(w, w.alice, roomPath(w.group));
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('for the group');
    again.unmount();

    // Another user on this browser has drafts of their own.
    const bobView = renderShell(w, w.bob, roomPath(w.group));
    await screen.findByRole('log', { name: 'Weekend trip' });
    expect(composer()).toHaveValue('');
    bobView.unmount();

    renderShell(w, w.alice, roomPath(w.group));
    await screen.findByRole('log', { name: 'Weekend trip' });
    fireEvent.keyDown(composer(), { key: 'Enter', code: 'Enter' });
    await waitFor(() => expect(w.broker.messages(w.group).map((m) => m.text)).toEqual(['for the group']));
    expect(composer()).toHaveValue('');
    expect(localStorage.getItem(draftKey(w.alice.user.id, w.group))).toBeNull();
    expect(localStorage.getItem(draftKey(w.alice.user.id, w.direct))).toBe('half a thought');
  });
});
