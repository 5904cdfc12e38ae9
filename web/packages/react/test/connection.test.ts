//! The connection layer against the fake broker, without React.
import { describe, expect, it, vi } from 'vitest';
import { FakeBroker } from './fakeBroker';
import { clientFor, texts } from './helpers';

function setup() {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const direct = broker.addRoom('direct', 'direct', [alice.user, bob.user]);
  const client = clientFor(broker, alice.user, alice.token);
  return { broker, alice, bob, direct, client };
}

describe('Connection', () => {
  it('connects once and always subscribes to notifications and errors', async () => {
    const { broker, client } = setup();
    client.start();
    await vi.waitFor(() => expect(client.connection.status).toBe('connected'));
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE')).toHaveLength(2));
    expect(broker.frames('CONNECT')).toHaveLength(1);
    expect(broker.frames('CONNECT')[0]!.headers.Authorization).toBe('Bearer token-alice');
    expect(broker.frames('SUBSCRIBE').map((f) => f.headers.destination).sort()).toEqual(['/user/queue/errors', '/user/queue/notifications']);
  });

  it('resubscribes with since-seq = last seq held after a drop, and gets what it missed once', async () => {
    const { broker, bob, direct, client } = setup();
    broker.post(direct, bob.user, 'one');
    broker.post(direct, bob.user, 'two');
    client.start();
    client.watchRoom(direct);
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(['one', 'two']));
    broker.post(direct, bob.user, 'three');
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(['one', 'two', 'three']));

    broker.down = true;
    broker.dropAll();
    await vi.waitFor(() => expect(client.connection.status).toBe('connecting'));
    broker.post(direct, bob.user, 'four (while away)');
    broker.down = false;
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(['one', 'two', 'three', 'four (while away)']));

    const subs = broker.frames('SUBSCRIBE', `/topic/rooms/${direct}`);
    expect(subs.map((f) => f.headers['since-seq'])).toEqual(['2', '3']);
    expect(subs[1]!.conn).not.toBe(subs[0]!.conn);
  });

  it('sends a message queued during a drop only after the resubscribe is confirmed', async () => {
    const { broker, direct, client } = setup();
    client.start();
    client.watchRoom(direct);
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${direct}`)).toHaveLength(1));
    broker.down = true;
    broker.dropAll();
    await vi.waitFor(() => expect(client.connection.status).toBe('connecting'));

    client.send(direct, 'sent while offline');
    expect(client.messages.getSnapshot(direct).messages.map((m) => [m.text, m.state])).toEqual([['sent while offline', 'pending']]);
    broker.down = false;
    await vi.waitFor(() => expect(client.messages.getSnapshot(direct).messages.map((m) => [m.text, m.state])).toEqual([['sent while offline', 'sent']]));

    const conn = broker.frames('SEND', `/app/rooms/${direct}`)[0]!.conn;
    const onConn = broker.log.filter((f) => f.conn === conn).map((f) => `${f.command} ${f.headers.destination ?? ''}`.trim());
    expect(onConn.indexOf(`SEND /app/rooms/${direct}`)).toBeGreaterThan(onConn.indexOf(`SUBSCRIBE /topic/rooms/${direct}`));
    expect(broker.messages(direct).map((m) => m.text)).toEqual(['sent while offline']);
  });

  it('retries an unconfirmed send with the same client-msg-id; it is stored and shown once', async () => {
    const { broker, direct, client } = setup();
    client.start();
    client.watchRoom(direct);
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    broker.dropBeforeNextReceipt = true;
    const id = client.send(direct, 'hello');
    await vi.waitFor(() => expect(broker.frames('SEND', `/app/rooms/${direct}`)).toHaveLength(2));
    const sends = broker.frames('SEND', `/app/rooms/${direct}`);
    expect(sends.map((f) => f.headers['client-msg-id'])).toEqual([id, id]);
    await vi.waitFor(() => expect(client.messages.getSnapshot(direct).messages.map((m) => [m.text, m.state, m.seq])).toEqual([['hello', 'sent', 1]]));
    expect(broker.messages(direct)).toHaveLength(1);
    expect(client.connection.pendingSends()).toBe(0);
  });

  it('confirms an optimistic send by its receipt (message-id, seq)', async () => {
    const { broker, direct, client } = setup();
    client.start();
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    client.send(direct, 'not on screen');
    await vi.waitFor(() => expect(client.messages.getSnapshot(direct).messages[0]?.state).toBe('sent'));
    expect(client.messages.getSnapshot(direct).messages[0]).toMatchObject({ seq: 1, id: broker.messages(direct)[0]!.id });
  });

  it.each([
    ['the own copy before the receipt (the server now)', false, true],
    ['the own copy before the receipt, room not on screen', false, false],
    ['the receipt before the own copy', true, true],
    ['the receipt before the own copy, room not on screen', true, false],
  ])('a pending line becomes the stored copy once: %s', async (_, receiptFirst, onScreen) => {
    const { broker, bob, direct, client } = setup();
    broker.receiptBeforeOwnCopy = receiptFirst;
    broker.post(direct, bob.user, 'earlier');
    client.start();
    if (onScreen) client.watchRoom(direct);
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    await vi.waitFor(() => expect(client.rooms.get(direct)?.lastMessage?.text).toBe('earlier'));
    if (onScreen) await vi.waitFor(() => expect(texts(client, direct)).toEqual(['earlier']));
    const seen: string[][] = [];
    client.messages.subscribe(direct, () => seen.push(client.messages.getSnapshot(direct).messages.map((m) => `${m.text}:${m.state}`)));

    const id = client.send(direct, 'mine');
    await vi.waitFor(() => expect(client.connection.pendingSends()).toBe(0));
    const stored = broker.messages(direct)[1]!;
    const mine = client.messages.getSnapshot(direct).messages.filter((m) => m.text === 'mine');
    expect(mine).toEqual([expect.objectContaining({ key: `c${id}`, state: 'sent', seq: stored.seq, id: stored.id })]);
    // Never two lines for one send, at any render along the way.
    for (const view of seen) expect(view.filter((line) => line.startsWith('mine:'))).toHaveLength(1);
    expect(seen.at(-1)?.filter((line) => line.startsWith('mine:'))).toEqual(['mine:sent']);
    expect(client.rooms.get(direct)).toMatchObject({ lastMessage: { seq: stored.seq, text: 'mine' } });
    expect(client.rooms.get(direct)?.unread).toBe(onScreen ? 0 : 1);
  });

  it('marks a send refused by the server as failed, and a retry sends the same client-msg-id', async () => {
    const { broker, alice } = setup();
    const client = clientFor(broker, alice.user, alice.token, { describeError: (code) => `refused: ${code}` });
    const foreign = broker.addRoom('group', 'not mine', []);
    client.start();
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    const id = client.send(foreign, 'nope');
    await vi.waitFor(() => expect(client.messages.getSnapshot(foreign).messages[0]).toMatchObject({ state: 'failed', error: 'refused: forbidden' }));
    client.retry(foreign, id);
    await vi.waitFor(() => expect(broker.frames('SEND', `/app/rooms/${foreign}`)).toHaveLength(2));
    expect(broker.frames('SEND', `/app/rooms/${foreign}`).map((f) => f.headers['client-msg-id'])).toEqual([id, id]);
  });

  it('a room on screen that the server refuses is marked so, even when the first look failed on the network', async () => {
    const { broker, alice } = setup();
    const foreign = broker.addRoom('group', 'not mine', []);
    const api = broker.api(alice.token);
    let looks = 0;
    const client = clientFor(broker, alice.user, alice.token, {
      api: {
        ...api,
        getRoom: (roomId) => (++looks === 1 ? Promise.reject(new TypeError('Failed to fetch')) : api.getRoom(roomId)),
      },
    });
    client.watchRoom(foreign);
    await vi.waitFor(() => expect(looks).toBe(1));
    expect(client.rooms.problem(foreign)).toBeUndefined();
    client.start();
    await vi.waitFor(() => expect(client.rooms.problem(foreign)).toBe('forbidden'));
    expect(client.rooms.problem(424242)).toBeUndefined();
    client.watchRoom(424242);
    await vi.waitFor(() => expect(client.rooms.problem(424242)).toBe('not_found'));
    expect(broker.frames('SUBSCRIBE', `/topic/rooms/${foreign}`)).toHaveLength(0);
  });

  it('takes the auth path on token_expired instead of a reconnect loop', async () => {
    const { broker, alice } = setup();
    const onAuthFailure = vi.fn();
    const client = clientFor(broker, alice.user, alice.token, { onAuthFailure });
    broker.rejectConnectWith = 'token_expired';
    client.start();
    await vi.waitFor(() => expect(onAuthFailure).toHaveBeenCalledWith('token_expired'));
    expect(client.connection.status).toBe('disconnected');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(broker.frames('CONNECT')).toHaveLength(1);
  });

  it('backs off between failed attempts and resets once connected', async () => {
    const { broker, alice } = setup();
    const delays: number[] = [];
    const client = clientFor(broker, alice.user, alice.token, {
      backoff: { initialMs: 2, maxMs: 16, factor: 2, jitter: 0.5 },
      random: () => {
        delays.push(delays.length);
        return 1;
      },
    });
    broker.down = true;
    client.start();
    await vi.waitFor(() => expect(delays.length).toBeGreaterThanOrEqual(5));
    broker.down = false;
    await vi.waitFor(() => expect(client.connection.status).toBe('connected'));
    expect(client.connection.status).toBe('connected');
  });

  it('merges history pages and live events by seq without gap or duplicate', async () => {
    const { broker, bob, direct, client } = setup();
    for (let i = 1; i <= 120; i++) broker.post(direct, bob.user, `m${i}`);
    client.start();
    await vi.waitFor(() => expect(client.rooms.isLoaded).toBe(true));
    client.watchRoom(direct);
    // Live traffic while the first page is in flight.
    broker.post(direct, bob.user, 'm121');
    broker.post(direct, bob.user, 'm122');
    await vi.waitFor(() => expect(client.messages.count(direct)).toBeGreaterThanOrEqual(52));
    while (client.messages.getSnapshot(direct).hasOlder) await client.loadOlder(direct);
    broker.post(direct, bob.user, 'm123');
    const want = Array.from({ length: 123 }, (_, i) => `m${i + 1}`);
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(want));
    expect(client.messages.getSnapshot(direct).messages.map((m) => m.seq)).toEqual(want.map((_, i) => i + 1));
  });

  it("opening a room marks it read, and the same user's other device follows", async () => {
    const { broker, alice, bob, direct, client } = setup();
    const phone = clientFor(broker, alice.user, alice.token);
    client.start();
    phone.start();
    await vi.waitFor(() => expect(client.connection.isReady && phone.connection.isReady).toBe(true));
    await vi.waitFor(() => expect(phone.rooms.isLoaded && client.rooms.isLoaded).toBe(true));
    broker.post(direct, bob.user, 'one');
    broker.post(direct, bob.user, 'two');
    await vi.waitFor(() => expect(phone.rooms.get(direct)?.unread).toBe(2));
    await vi.waitFor(() => expect(client.rooms.get(direct)?.unread).toBe(2));
    client.watchRoom(direct);
    expect(client.rooms.get(direct)?.unread).toBe(0);
    await vi.waitFor(() => expect(broker.httpLog).toContain(`POST /api/rooms/${direct}/read 2`));
    await vi.waitFor(() => expect(phone.rooms.get(direct)?.unread).toBe(0));
    expect(phone.toasts.getSnapshot().map((t) => t.text)).toEqual(['two']);
  });
});
