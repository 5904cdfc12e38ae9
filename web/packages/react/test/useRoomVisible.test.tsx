//! `useRoom`'s `visible` option: a mounted view that is hidden does not hold its room on
//! screen, so the room's messages raise notifications until the view shows again.
import { act, render } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ChatProvider, useRoom } from '../src';
import { FakeBroker } from './fakeBroker';
import { clientFor, texts } from './helpers';

function View({ roomId, visible }: { roomId: number; visible: boolean }) {
  const { messages } = useRoom(roomId, { visible });
  return <p>{messages.length}</p>;
}

describe('useRoom({ visible })', () => {
  it('routes a hidden view’s messages to notifications, and shows them once it is visible', async () => {
    const broker = new FakeBroker();
    const alice = broker.addUser('alice');
    const bob = broker.addUser('bob');
    const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
    const client = clientFor(broker, alice.user, alice.token);
    const { rerender } = render(
      <ChatProvider client={client}>
        <View roomId={direct} visible={false} />
      </ChatProvider>,
    );
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    expect(client.isVisible(direct)).toBe(false);
    act(() => void broker.post(direct, bob.user, 'while hidden'));
    await vi.waitFor(() => expect(client.toasts.getSnapshot()).toHaveLength(1));
    expect(broker.frames('SUBSCRIBE', `/topic/rooms/${String(direct)}`)).toHaveLength(0);
    rerender(
      <ChatProvider client={client}>
        <View roomId={direct} visible />
      </ChatProvider>,
    );
    expect(client.isVisible(direct)).toBe(true);
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(['while hidden']));
    expect(client.toasts.getSnapshot()).toEqual([]);
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${String(direct)}`)).toHaveLength(1));
  });
});
