//! Read receipts in the sotong mode: the marks store (forward only), the unread-by and seen-by
//! counts, and the client: a room on screen subscribes with `receipts: true`, loads the marks
//! on every (re)subscribe, and follows the topic's `read` events and the senders of messages.
import { act, cleanup, renderHook } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatProvider, ReadMarkStore, seenBy, unreadBy, useReadMarks } from '../src';
import { FakeBroker } from './fakeBroker';
import { clientFor, optionsFor } from './helpers';

afterEach(cleanup);

const user = (id: number, username: string) => ({ id, username, displayName: username });

describe('read marks', () => {
  it('move forward only, and a reload drops members who left', () => {
    const store = new ReadMarkStore();
    const seen: number[] = [];
    store.subscribe(() => seen.push(store.get(1).get(2) ?? 0));
    store.advance(1, 2, 5);
    store.advance(1, 2, 3);
    expect(store.get(1).get(2)).toBe(5);
    const before = store.get(1);
    store.advance(1, 2, 5);
    expect(store.get(1)).toBe(before);
    store.setAll(1, [{ userId: 3, seq: 1 }, { userId: 2, seq: 4 }]);
    expect(store.get(1).get(2)).toBe(5);
    store.setAll(1, [{ userId: 2, seq: 6 }]);
    expect([...store.get(1)]).toEqual([[2, 6]]);
    expect(seen).toEqual([5, 5, 6]);
    expect(store.get(9).size).toBe(0);
  });

  it('count who has and has not read a message, the sender left out', () => {
    const [alice, bob, carol] = [user(1, 'alice'), user(2, 'bob'), user(3, 'carol')];
    const members = [alice, bob, carol];
    const marks = new Map([
      [1, 4],
      [2, 4],
    ]);
    const message = { seq: 4, sender: alice };
    expect(unreadBy(message, members, marks)).toEqual([carol]);
    expect(seenBy(message, members, marks)).toEqual([bob]);
    expect(unreadBy({ seq: 5, sender: alice }, members, marks)).toEqual([bob, carol]);
    expect(unreadBy({ seq: null, sender: alice }, members, marks)).toEqual([]);
  });
});

describe('read receipts (sotong mode)', () => {
  it('a room on screen asks for receipts, loads the marks on every subscribe and follows read events', async () => {
    const broker = new FakeBroker();
    const alice = broker.addUser('alice');
    const bob = broker.addUser('bob');
    const carol = broker.addUser('carol');
    const room = broker.addRoom('group', 'trio', [alice.user, bob.user, carol.user]);
    const client = clientFor(broker, alice.user, alice.token);
    const wrapper = ({ children }: { children: ReactNode }) => <ChatProvider client={client}>{children}</ChatProvider>;
    const { result } = renderHook(() => useReadMarks(room), { wrapper });
    client.start();
    client.watchRoom(room);
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${room}`)[0]?.headers.receipts).toBe('true'));
    await vi.waitFor(() => expect(result.current.get(bob.user.id)).toBe(0));

    const bobApi = optionsFor(broker, bob.user, bob.token).api;
    client.send(room, 'hello');
    await vi.waitFor(() => expect(result.current.get(alice.user.id)).toBe(1));
    await act(() => bobApi.markRead(room, 1));
    await vi.waitFor(() => expect(result.current.get(bob.user.id)).toBe(1));
    expect(result.current.get(carol.user.id)).toBe(0);

    // Carol reads while the connection is down: the reload on resubscribe brings her mark.
    const subscribes = broker.frames('SUBSCRIBE', `/topic/rooms/${room}`).length;
    broker.dropAll();
    await act(() => optionsFor(broker, carol.user, carol.token).api.markRead(room, 1));
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${room}`).length).toBeGreaterThan(subscribes));
    await vi.waitFor(() => expect(result.current.get(carol.user.id)).toBe(1));
    expect(broker.httpLog.filter((l) => l === `GET /api/rooms/${room}/reads`).length).toBeGreaterThanOrEqual(2);
    client.stop();
  });
});
