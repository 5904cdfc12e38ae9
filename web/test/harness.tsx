//! What the app's screen tests share: a seeded world on the fake broker (Alice, Bob and Carol, a
//! direct room and a group) and the whole app rendered in it over the real realtime layer, so
//! that each test file says only what its tests are about.
import { render, screen, within } from '@testing-library/react';
import { SotongProvider, type SotongChatClientOptions } from '@sotong/react';
import { StrictMode } from 'react';
import { createApi, type Api } from '../src/api/http';
import type { User } from '../src/api/types';
import { ApiContext } from '../src/app/ApiContext';
import { Shell, type ShellProps } from '../src/app/Shell';
import { FakeBroker } from '../packages/react/test/fakeBroker';
import { optionsFor } from '../packages/react/test/helpers';

/** How a test wants its world seeded, where the usual one does not fit. */
export interface WorldOptions {
  /** The group's name (default "Weekend trip"). */
  groupName?: string;
  /** Whether Carol is in the group (default yes); without her it has Alice and Bob only. */
  carolInGroup?: boolean;
}

/** A fake broker with Alice, Bob and Carol, the direct room of Alice and Bob, and a group. */
export function world({ groupName = 'Weekend trip', carolInGroup = true }: WorldOptions = {}) {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const carol = broker.addUser('carol');
  const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
  const group = broker.addRoom('group', groupName, carolInGroup ? [alice.user, bob.user, carol.user] : [alice.user, bob.user]);
  return { broker, alice, bob, carol, direct, group };
}

/** A seeded world, as `world()` returns it. */
export type World = ReturnType<typeof world>;

/** How a test wants the app rendered, where the usual (Alice, the app's API with her token) does not fit. */
export interface RenderShellOptions {
  /** Whose app it is (default Alice). */
  who?: { user: User; token: string };
  /**
   * The app's own API (default: `createApi` with the user's token, as the app makes it); a test
   * replaces calls to watch or refuse them.
   */
  api?: Api;
  /** Options of the realtime client on top of the test ones (e.g. how errors are worded). */
  client?: Partial<SotongChatClientOptions>;
  /** The Shell's callbacks a test watches (log-out is a no-op unless given). */
  shell?: Partial<Omit<ShellProps, 'me'>>;
  /** Render under React's StrictMode (effects twice, as in development). */
  strict?: boolean;
}

/** The app at `path` for one user of the world, over the fake broker. */
export function renderShell(w: World, path: string, { who = w.alice, api, client = {}, shell = {}, strict = false }: RenderShellOptions = {}) {
  window.history.pushState(null, '', path);
  const tree = (
    <ApiContext.Provider value={api ?? createApi({ token: who.token })}>
      <SotongProvider {...optionsFor(w.broker, who.user, who.token, client)}>
        <Shell me={who.user} onLogout={() => {}} {...shell} />
      </SotongProvider>
    </ApiContext.Provider>
  );
  return render(strict ? <StrictMode>{tree}</StrictMode> : tree);
}

/** The room list. */
export const roomList = () => screen.getByRole('navigation', { name: 'Rooms' });

/** The row of the message whose bubble holds `text`, in the room's log. */
export const messageRow = (log: HTMLElement, text: string) => within(log).getByText(text).closest('.message') as HTMLElement;
