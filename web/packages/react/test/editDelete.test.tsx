//! Edits and deletes in the sotong mode, against the in-memory sotong: shown on both sides,
//! routed like messages (room topic when on screen, else notifications), recovered after a
//! drop (`since-rev`) and after a `resync` or a reconnect (`GET /changes`), stale copies
//! ignored, and refusals undone on screen and surfaced as the contract's codes.
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageActionError, SotongProvider, useRoom, type SotongChatClient } from '../src';
import type { Message } from '../src/types';
import { FakeBroker, FakeSocket, parseFrames } from './fakeBroker';
import { clientFor, optionsFor } from './helpers';

afterEach(cleanup);

/** A frame a client received. */
interface Received {
  destination: string;
  body: { type?: string; message?: Message };
}

function world() {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
  /** A started client whose every received MESSAGE frame is recorded. */
  const connect = (who: typeof alice) => {
    const received: Received[] = [];
    const client = clientFor(broker, who.user, who.token, {
      webSocketFactory: () => {
        const socket = new FakeSocket(broker, who.token);
        const deliver = socket.deliver.bind(socket);
        socket.deliver = (chunk: string) => {
          for (const frame of parseFrames(chunk)) {
            if (frame.command !== 'MESSAGE') continue;
            let body: Received['body'] = {};
            try {
              body = JSON.parse(frame.body) as Received['body'];
            } catch {
              // not JSON: not a chat event
            }
            received.push({ destination: frame.headers.destination ?? '', body });
          }
          deliver(chunk);
        };
        return socket;
      },
    });
    client.start();
    return { client, received };
  };
  return { broker, alice, bob, direct, connect };
}

const shown = (client: SotongChatClient, roomId: number, seq: number) => client.messages.getSnapshot(roomId).messages.find((m) => m.seq === seq);
const changedFrames = (received: Received[], seq: number) => received.filter((r) => r.body.type === 'changed' && r.body.message?.seq === seq);

describe('edit and delete (sotong mode)', () => {
  it('an edit shows at once for its author and as edited for the other side, which gets it on the room topic only', async () => {
    const w = world();
    const alice = w.connect(w.alice);
    const bob = w.connect(w.bob);
    alice.client.watchRoom(w.direct);
    bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(bob.client.connection.isReady && alice.client.connection.isReady).toBe(true));
    alice.client.send(w.direct, 'helo');
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('helo'));

    const edited = alice.client.editMessage(w.direct, 1, 'hello');
    // Optimistic: the author sees the new text before the server answers.
    expect(shown(alice.client, w.direct, 1)).toMatchObject({ text: 'hello', deleted: false });
    expect(shown(alice.client, w.direct, 1)?.editedAt).not.toBeNull();
    await edited;

    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)).toMatchObject({ text: 'hello', editedAt: '2025-01-02T09:00:01.000Z', deleted: false }));
    const sends = w.broker.frames('SEND', `/app/rooms/${w.direct}/messages/1/edit`);
    expect(sends.map((f) => JSON.parse(f.body) as unknown)).toEqual([{ text: 'hello' }]);
    expect(sends[0]!.headers.receipt).toBeDefined();
    expect(changedFrames(bob.received, 1).map((r) => r.destination)).toEqual([`/topic/rooms/${w.direct}`]);
    // The author's own copy settles on the server's edit time.
    await vi.waitFor(() => expect(shown(alice.client, w.direct, 1)?.editedAt).toBe('2025-01-02T09:00:01.000Z'));
    expect(w.broker.lastRev(w.direct)).toBe(1);
  });

  it('a delete reaches a member whose room is not on screen as a notification: tombstone held, preview follows, no toast, no unread bump', async () => {
    const w = world();
    const alice = w.connect(w.alice);
    const bob = w.connect(w.bob);
    w.broker.post(w.direct, w.alice.user, 'first');
    const release = bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('first'));
    release();
    await vi.waitFor(() => expect(w.broker.subscriptionsOf('bob')).not.toContain(`/topic/rooms/${w.direct}`));
    w.broker.post(w.direct, w.alice.user, 'oops, wrong chat');
    await vi.waitFor(() => expect(bob.client.rooms.get(w.direct)?.lastMessage?.text).toBe('oops, wrong chat'));
    const unreadBefore = bob.client.rooms.get(w.direct)?.unread;
    const toastsBefore = bob.client.toasts.getSnapshot();

    await vi.waitFor(() => expect(alice.client.connection.isReady).toBe(true));
    // Alice's room is not on screen either: her client learns of message 2 from the notification.
    await vi.waitFor(() => expect(alice.client.rooms.get(w.direct)?.lastMessage?.seq).toBe(2));
    await alice.client.deleteMessage(w.direct, 2);

    await vi.waitFor(() => expect(bob.client.rooms.get(w.direct)?.lastMessage).toMatchObject({ seq: 2, text: '', rev: 1 }));
    expect(bob.client.rooms.get(w.direct)?.lastMessage?.deletedAt).toBeTruthy();
    expect(bob.client.rooms.get(w.direct)?.unread).toBe(unreadBefore);
    expect(bob.client.toasts.getSnapshot()).toBe(toastsBefore);
    expect(changedFrames(bob.received, 2).map((r) => r.destination)).toEqual(['/user/queue/notifications']);
    // The author's preview too (her own copy came as a notification).
    await vi.waitFor(() => expect(alice.client.rooms.get(w.direct)?.lastMessage?.deletedAt).toBeTruthy());
  });

  it('a client away while an old message is edited then deleted resumes with since-rev and gets the tombstone once', async () => {
    const w = world();
    for (const text of ['one', 'two', 'three']) w.broker.post(w.direct, w.alice.user, text);
    w.broker.change(w.direct, 2, w.alice.user, 'two, edited before Bob came');
    const bob = w.connect(w.bob);
    bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(bob.client.messages.getSnapshot(w.direct).messages.map((m) => m.text)).toEqual(['one', 'two, edited before Bob came', 'three']));
    await vi.waitFor(() => expect(bob.client.connection.isReady).toBe(true));

    w.broker.down = true;
    w.broker.dropAll();
    await vi.waitFor(() => expect(bob.client.connection.status).toBe('connecting'));
    w.broker.change(w.direct, 1, w.alice.user, 'one, edited');
    w.broker.change(w.direct, 1, w.alice.user, null);
    const receivedBefore = bob.received.length;
    w.broker.down = false;

    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)).toMatchObject({ text: '', deleted: true }));
    const subs = w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`);
    expect(subs.map((f) => [f.headers['since-seq'], f.headers['since-rev']])).toEqual([
      ['3', '1'],
      ['3', '1'],
    ]);
    const resumed = changedFrames(bob.received.slice(receivedBefore), 1);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.body.message).toMatchObject({ text: '', rev: 3 });
    expect(bob.client.messages.maxRev(w.direct)).toBe(3);
  });

  it('a stale changed event (lower rev) is ignored', async () => {
    const w = world();
    w.broker.post(w.direct, w.alice.user, 'v0');
    const bob = w.connect(w.bob);
    bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('v0'));
    await vi.waitFor(() => expect(bob.client.connection.isReady).toBe(true));
    const v1 = w.broker.change(w.direct, 1, w.alice.user, 'v1') as Message;
    w.broker.change(w.direct, 1, w.alice.user, 'v2');
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('v2'));

    w.broker.fanOutChange(w.direct, v1, 'edited');
    // Frames arrive in order: once this one is shown, the stale copy has been handled.
    w.broker.post(w.direct, w.alice.user, 'after');
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 2)?.text).toBe('after'));
    expect(changedFrames(bob.received, 1).map((r) => r.body.message?.text)).toEqual(['v1', 'v2', 'v1']);
    expect(shown(bob.client, w.direct, 1)?.text).toBe('v2');
  });

  it('refused edits and deletes are undone on screen and reject with the code: not_author, deleted, edit_window_closed', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'bob says');
    w.broker.post(w.direct, w.alice.user, 'alice says');
    w.broker.post(w.direct, w.alice.user, 'alice again');
    const alice = w.connect(w.alice);
    alice.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(alice.client.messages.getSnapshot(w.direct).messages).toHaveLength(3));
    const codeOf = (p: Promise<void>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (e instanceof MessageActionError ? e.code : String(e)),
      );

    const notAuthor = codeOf(alice.client.editMessage(w.direct, 1, 'rewritten by alice'));
    expect(shown(alice.client, w.direct, 1)?.text).toBe('rewritten by alice');
    expect(await notAuthor).toBe('not_author');
    expect(shown(alice.client, w.direct, 1)).toMatchObject({ text: 'bob says', editedAt: null });
    expect(await codeOf(alice.client.deleteMessage(w.direct, 1))).toBe('not_author');
    expect(shown(alice.client, w.direct, 1)).toMatchObject({ text: 'bob says', deleted: false });

    expect(await codeOf(alice.client.deleteMessage(w.direct, 2))).toBe('ok');
    const deleted = codeOf(alice.client.editMessage(w.direct, 2, 'back from the dead'));
    expect(await deleted).toBe('deleted');
    expect(shown(alice.client, w.direct, 2)).toMatchObject({ text: '', deleted: true });

    w.broker.editWindowClosed = true;
    expect(await codeOf(alice.client.editMessage(w.direct, 3, 'too late'))).toBe('edit_window_closed');
    expect(shown(alice.client, w.direct, 3)).toMatchObject({ text: 'alice again', editedAt: null });
    // The window bounds edits only.
    expect(await codeOf(alice.client.deleteMessage(w.direct, 3))).toBe('ok');
    await vi.waitFor(() => expect(shown(alice.client, w.direct, 3)?.deleted).toBe(true));

    expect(await codeOf(alice.client.editMessage(w.direct, 1, '   '))).toBe('invalid');
    expect(w.broker.messages(w.direct).map((m) => m.text)).toEqual(['bob says', '', '']);
  });

  it('after a resync, a change lost between nodes is fetched from GET /changes, from the last rev known complete', async () => {
    const w = world();
    w.broker.post(w.direct, w.alice.user, 'one');
    w.broker.post(w.direct, w.alice.user, 'two');
    const bob = w.connect(w.bob);
    bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 2)?.text).toBe('two'));
    await vi.waitFor(() => expect(bob.client.connection.isReady).toBe(true));

    w.broker.changeUnheard(w.direct, 1, w.alice.user, 'one, fixed');
    // A later change arrives live: the highest rev seen is now past the lost one.
    w.broker.change(w.direct, 2, w.alice.user, 'two, fixed');
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 2)?.text).toBe('two, fixed'));
    expect(shown(bob.client, w.direct, 1)?.text).toBe('one');

    w.broker.resync();
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('one, fixed'));
    expect(w.broker.httpLog).toContain(`GET /api/rooms/${w.direct}/changes?after=0`);
  });

  it('after a reconnect, a room held but not on screen whose lastRev is ahead fetches its changes', async () => {
    const w = world();
    w.broker.post(w.direct, w.alice.user, 'one');
    const bob = w.connect(w.bob);
    const release = bob.client.watchRoom(w.direct);
    await vi.waitFor(() => expect(shown(bob.client, w.direct, 1)?.text).toBe('one'));
    release();
    await vi.waitFor(() => expect(bob.client.connection.isReady).toBe(true));

    w.broker.down = true;
    w.broker.dropAll();
    await vi.waitFor(() => expect(bob.client.connection.status).toBe('connecting'));
    w.broker.change(w.direct, 1, w.alice.user, 'one, edited while Bob was away');
    w.broker.down = false;

    await vi.waitFor(() => expect(bob.client.messages.get(w.direct, 1)?.text).toBe('one, edited while Bob was away'));
    expect(w.broker.httpLog.filter((l) => l.includes('/changes'))).toEqual([`GET /api/rooms/${w.direct}/changes?after=0`]);
    expect(bob.client.rooms.get(w.direct)?.lastMessage?.text).toBe('one, edited while Bob was away');
  });

  it('useRoom gives edit and remove; the view shows the edited text, then the tombstone', async () => {
    const w = world();
    w.broker.post(w.direct, w.alice.user, 'typo');
    let room: ReturnType<typeof useRoom> | undefined;
    function View() {
      room = useRoom(w.direct);
      return (
        <ol>
          {room.messages.map((m) => (
            <li key={m.key}>{`${m.deleted ? '[deleted]' : m.text}${m.editedAt ? ' (edited)' : ''}`}</li>
          ))}
        </ol>
      );
    }
    render(
      <SotongProvider {...optionsFor(w.broker, w.alice.user, w.alice.token)}>
        <View />
      </SotongProvider>,
    );
    await screen.findByText('typo');
    await act(() => room!.edit(1, 'fixed'));
    await screen.findByText('fixed (edited)');
    await act(() => room!.remove(1));
    await screen.findByText('[deleted] (edited)');
    expect(w.broker.messages(w.direct)[0]).toMatchObject({ text: '', rev: 2 });
  });
});
