//! Presence in the package: `usePresence` watches exactly the users mounted components ask for
//! (one watch list per tick, reference-counted, sent again after a reconnect), shows what the
//! server says of them, and `report` sends a connection's activity. Read from the broker's log
//! and the rendered DOM.
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { SotongProvider, useChatClient, usePresence, type ChatClient } from '../src';
import { FakeBroker } from './fakeBroker';
import { optionsFor } from './helpers';

afterEach(cleanup);

function Who({ userId }: { userId: number }) {
  const presence = usePresence(userId);
  return <li aria-label={`user ${userId}`}>{presence ? `${presence.state}|${presence.lastSeenAt ?? '-'}` : 'unknown'}</li>;
}

function Probe({ onClient }: { onClient: (client: ChatClient) => void }) {
  onClient(useChatClient());
  return null;
}

const watchLists = (broker: FakeBroker) => broker.frames('SEND').filter((f) => f.headers.destination === '/app/presence/watch').map((f) => (JSON.parse(f.body) as { userIds: number[] }).userIds.sort());
const shown = (userId: number) => screen.getByLabelText(`user ${userId}`).textContent;

describe('usePresence', () => {
  it('watches the union of what is mounted, shows changes, forgets what unmounts and restores after a reconnect', async () => {
    const broker = new FakeBroker();
    const alice = broker.addUser('alice');
    const bob = broker.addUser('bob');
    const carol = broker.addUser('carol');
    broker.setPresence(bob.user.id, 'online');
    let client: ChatClient | undefined;
    let hide: () => void = () => {};
    function App() {
      const [carolShown, setCarolShown] = useState(true);
      hide = () => setCarolShown(false);
      return (
        <ul>
          <Probe onClient={(c) => (client = c)} />
          <Who userId={bob.user.id} />
          <Who userId={bob.user.id} />
          {carolShown && <Who userId={carol.user.id} />}
        </ul>
      );
    }
    render(
      <SotongProvider {...optionsFor(broker, alice.user, alice.token)}>
        <App />
      </SotongProvider>,
    );
    await waitFor(() => expect(screen.getAllByLabelText(`user ${bob.user.id}`).map((li) => li.textContent)).toEqual(['online|-', 'online|-']));
    expect(shown(carol.user.id)).toBe('offline|-');
    expect(watchLists(broker).at(-1)).toEqual([bob.user.id, carol.user.id].sort());
    expect(broker.frames('SUBSCRIBE').filter((f) => f.headers.destination === '/user/queue/presence')).toHaveLength(1);

    act(() => broker.setPresence(bob.user.id, 'offline', '2024-05-01T12:00:00.000Z'));
    await waitFor(() => expect(screen.getAllByLabelText(`user ${bob.user.id}`)[0]?.textContent).toBe('offline|2024-05-01T12:00:00.000Z'));

    act(() => hide());
    await waitFor(() => expect(watchLists(broker).at(-1)).toEqual([bob.user.id]));

    const lists = watchLists(broker).length;
    act(() => broker.dropAll());
    await waitFor(() => expect(watchLists(broker).length).toBe(lists + 1));
    expect(watchLists(broker).at(-1)).toEqual([bob.user.id]);

    client?.presence?.report('away');
    client?.presence?.report('away');
    await waitFor(() => expect(broker.reported).toEqual([{ user: 'alice', state: 'away' }]));
  });
});
