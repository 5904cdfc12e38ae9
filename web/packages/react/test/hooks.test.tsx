//! The hooks and providers under React, over the sotong engine and the in-memory broker:
//! StrictMode double mounts, reference counting across components, reconnects seen through
//! `useRoom`, routing by visibility, pending sends, and the token provider. The wire is read
//! from the broker's log; what a person would see is read from the rendered DOM.
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { StrictMode, useState, type ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ChatProvider,
  SotongChatClient,
  SotongProvider,
  useChatClient,
  useConnectionStatus,
  useNotifications,
  useRoom,
  useRooms,
  type ChatClient,
  type NotificationEvent,
  type TokenProvider,
} from '../src';
import { FakeBroker } from './fakeBroker';
import { optionsFor } from './helpers';

afterEach(cleanup);

function world() {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
  const group = broker.addRoom('group', 'Weekend trip', [alice.user, bob.user]);
  return { broker, alice, bob, direct, group };
}

type World = ReturnType<typeof world>;

const topic = (roomId: number) => `/topic/rooms/${roomId}`;
const FIXED_QUEUES = ['/user/queue/errors', '/user/queue/notifications'];

/** One room as a chat view shows it: each line is `text|state|seq`. */
function RoomView({ roomId }: { roomId: number }) {
  const { messages, send } = useRoom(roomId);
  return (
    <section aria-label={`room ${roomId}`}>
      <ol>
        {messages.map((m) => (
          <li key={m.key}>{`${m.text}|${m.state}|${m.seq ?? '-'}`}</li>
        ))}
      </ol>
      <button onClick={() => send('hello')}>send to {roomId}</button>
    </section>
  );
}

/** The connection state, the toasts and the room list's unread counts. */
function Chrome({ onEvent }: { onEvent?: (event: NotificationEvent) => void }) {
  const status = useConnectionStatus();
  const { toasts } = useNotifications(onEvent);
  const rooms = useRooms();
  return (
    <>
      <p aria-label="status">{status}</p>
      <ul aria-label="toasts">
        {toasts.map((t) => (
          <li key={t.id}>{`${t.roomId}:${t.text}`}</li>
        ))}
      </ul>
      <ul aria-label="rooms">
        {rooms.map((r) => (
          <li key={r.id}>{`${r.id}:${r.unread}`}</li>
        ))}
      </ul>
    </>
  );
}

/** Hands the provider's engine to the test. */
function Probe({ onClient }: { onClient: (client: ChatClient) => void }) {
  onClient(useChatClient());
  return null;
}

const lines = (roomId: number) => within(screen.getByRole('region', { name: `room ${roomId}` })).queryAllByRole('listitem').map((li) => li.textContent);
const toastTexts = () => within(screen.getByRole('list', { name: 'toasts' })).queryAllByRole('listitem').map((li) => li.textContent);
const unread = (roomId: number) =>
  within(screen.getByRole('list', { name: 'rooms' }))
    .queryAllByRole('listitem')
    .map((li) => li.textContent ?? '')
    .find((text) => text.startsWith(`${roomId}:`));
const status = () => screen.getByLabelText('status').textContent;

function provider(w: World, children: ReactNode, options: Parameters<typeof optionsFor>[3] = {}) {
  return (
    <SotongProvider {...optionsFor(w.broker, w.alice.user, w.alice.token, options)}>
      <Chrome />
      {children}
    </SotongProvider>
  );
}

describe('StrictMode', () => {
  it('mounting the provider and useRoom twice costs one CONNECT and one SUBSCRIBE each; unmounting leaves nothing', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'hi');
    let client: ChatClient | undefined;
    const view = render(
      <StrictMode>
        {provider(
          w,
          <>
            <Probe onClient={(c) => (client = c)} />
            <RoomView roomId={w.direct} />
            <RoomView roomId={w.group} />
          </>,
        )}
      </StrictMode>,
    );
    await waitFor(() => expect(lines(w.direct)).toEqual(['hi|sent|1']));
    await waitFor(() => expect(client?.connection.isReady).toBe(true));
    // Every deferred release of the double mount has run by now (the CONNECT took tasks).
    expect(w.broker.frames('CONNECT')).toHaveLength(1);
    expect(w.broker.frames('SUBSCRIBE').map((f) => f.headers.destination).sort()).toEqual([topic(w.direct), topic(w.group), ...FIXED_QUEUES].sort());
    expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(0);
    expect(w.broker.subscriptionsOf('alice')).toEqual([topic(w.direct), topic(w.group), ...FIXED_QUEUES].sort());

    view.unmount();
    await waitFor(() => expect(w.broker.connectionsOf('alice')).toBe(0));
    expect(client?.connection.status).toBe('disconnected');
    expect(client?.connection.destinations().sort()).toEqual(FIXED_QUEUES);
    expect(w.broker.subscriptionsOf('alice')).toEqual([]);
    // Nothing comes back by itself: a few backoff periods (5–40 ms here) later, still one CONNECT.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(w.broker.frames('CONNECT')).toHaveLength(1);
    expect(w.broker.socketsOpened).toBe(1);
  });

  it('a room view mounted twice on a live connection subscribes once, and its unmount unsubscribes', async () => {
    const w = world();
    function Toggle() {
      const [shown, setShown] = useState(false);
      return (
        <>
          <button onClick={() => setShown((s) => !s)}>toggle</button>
          {shown && (
            <StrictMode>
              <RoomView roomId={w.direct} />
            </StrictMode>
          )}
        </>
      );
    }
    render(provider(w, <Toggle />));
    await waitFor(() => expect(status()).toBe('connected'));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toEqual(FIXED_QUEUES));

    fireEvent.click(screen.getByText('toggle'));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));
    w.broker.post(w.direct, w.bob.user, 'seen');
    await waitFor(() => expect(lines(w.direct)).toEqual(['seen|sent|1']));
    expect(w.broker.frames('SUBSCRIBE', topic(w.direct))).toHaveLength(1);
    expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(0);

    fireEvent.click(screen.getByText('toggle'));
    await waitFor(() => expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(1));
    expect(w.broker.subscriptionsOf('alice')).toEqual(FIXED_QUEUES);
    expect(w.broker.frames('CONNECT')).toHaveLength(1);
  });
});

describe('reference counting', () => {
  it('two views of one room share one SUBSCRIBE; the room stays on screen until the last one leaves', async () => {
    const w = world();
    const client = new SotongChatClient(optionsFor(w.broker, w.alice.user, w.alice.token));
    function Two() {
      const [shown, setShown] = useState(2);
      return (
        <>
          <button onClick={() => setShown((n) => n - 1)}>hide one</button>
          {shown > 0 && <RoomView roomId={w.direct} />}
          {shown > 1 && <RoomView roomId={w.direct} />}
        </>
      );
    }
    render(
      <ChatProvider client={client}>
        <Chrome />
        <Two />
      </ChatProvider>,
    );
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));
    w.broker.post(w.direct, w.bob.user, 'one');
    await waitFor(() => expect(screen.getAllByText('one|sent|1')).toHaveLength(2));

    fireEvent.click(screen.getByText('hide one'));
    w.broker.post(w.direct, w.bob.user, 'two');
    await waitFor(() => expect(lines(w.direct)).toEqual(['one|sent|1', 'two|sent|2']));
    expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(0);
    expect(toastTexts()).toEqual([]);

    fireEvent.click(screen.getByText('hide one'));
    await waitFor(() => expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(1));
    expect(w.broker.subscriptionsOf('alice')).toEqual(FIXED_QUEUES);
    expect(w.broker.frames('SUBSCRIBE', topic(w.direct))).toHaveLength(1);
    // Off screen now: the next message is a toast.
    w.broker.post(w.direct, w.bob.user, 'three');
    await waitFor(() => expect(toastTexts()).toEqual([`${w.direct}:three`]));
  });
});

describe('reconnect', () => {
  it('resubscribes with since-seq and shows what was missed once, in order; other rooms get counts, not toasts', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'before');
    render(provider(w, <RoomView roomId={w.direct} />));
    await waitFor(() => expect(lines(w.direct)).toEqual(['before|sent|1']));
    await waitFor(() => expect(unread(w.group)).toBe(`${w.group}:0`));

    w.broker.down = true;
    act(() => w.broker.dropAll());
    await waitFor(() => expect(status()).toBe('connecting'));
    for (const text of ['away 1', 'away 2', 'away 3']) w.broker.post(w.direct, w.bob.user, text);
    w.broker.post(w.group, w.bob.user, 'group 1');
    w.broker.post(w.group, w.bob.user, 'group 2');
    w.broker.down = false;

    await waitFor(() => expect(status()).toBe('connected'));
    await waitFor(() => expect(lines(w.direct)).toEqual(['before|sent|1', 'away 1|sent|2', 'away 2|sent|3', 'away 3|sent|4']));
    await waitFor(() => expect(unread(w.group)).toBe(`${w.group}:2`));
    expect(w.broker.frames('SUBSCRIBE', topic(w.direct)).map((f) => f.headers['since-seq'])).toEqual(['1', '1']);
    expect(toastTexts()).toEqual([]);

    // Live again: a new message of the other room is a toast, the open room's is a line.
    w.broker.post(w.group, w.bob.user, 'group 3');
    w.broker.post(w.direct, w.bob.user, 'live');
    await waitFor(() => expect(toastTexts()).toEqual([`${w.group}:group 3`]));
    await waitFor(() => expect(lines(w.direct).at(-1)).toBe('live|sent|5'));
    expect(lines(w.direct)).toHaveLength(5);
  });
});

describe('routing by visibility', () => {
  it('the room on screen shows its messages, any other room toasts them, never both; switching rooms switches routes', async () => {
    const w = world();
    const events: NotificationEvent[] = [];
    function Screen() {
      const [roomId, setRoomId] = useState(w.direct);
      return (
        <>
          <Chrome onEvent={(event) => events.push(event)} />
          <button onClick={() => setRoomId(roomId === w.direct ? w.group : w.direct)}>switch</button>
          <RoomView key={roomId} roomId={roomId} />
        </>
      );
    }
    render(
      <SotongProvider {...optionsFor(w.broker, w.alice.user, w.alice.token)}>
        <Screen />
      </SotongProvider>,
    );
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));

    w.broker.post(w.direct, w.bob.user, 'to the open room');
    w.broker.post(w.group, w.bob.user, 'to the other room');
    await waitFor(() => expect(toastTexts()).toEqual([`${w.group}:to the other room`]));
    await waitFor(() => expect(lines(w.direct)).toEqual(['to the open room|sent|1']));
    await waitFor(() => expect(unread(w.group)).toBe(`${w.group}:1`));
    expect(unread(w.direct)).toBe(`${w.direct}:0`);
    expect(events.flatMap((e) => (e.type === 'message' ? [e.message.text] : []))).toEqual(['to the other room']);

    fireEvent.click(screen.getByText('switch'));
    // Opening the group shows its message, clears its toast and its unread count.
    await waitFor(() => expect(lines(w.group)).toEqual(['to the other room|sent|1']));
    expect(toastTexts()).toEqual([]);
    await waitFor(() => expect(unread(w.group)).toBe(`${w.group}:0`));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toEqual([topic(w.group), ...FIXED_QUEUES].sort()));

    w.broker.post(w.direct, w.bob.user, 'now elsewhere');
    w.broker.post(w.group, w.bob.user, 'now here');
    await waitFor(() => expect(toastTexts()).toEqual([`${w.direct}:now elsewhere`]));
    await waitFor(() => expect(lines(w.group)).toEqual(['to the other room|sent|1', 'now here|sent|2']));
  });
});

describe('sends', () => {
  it('a send shows as pending, then as sent with its seq when the RECEIPT comes', async () => {
    const w = world();
    w.broker.ownCopies = false;
    w.broker.holdReceipts = true;
    render(provider(w, <RoomView roomId={w.direct} />));
    await waitFor(() => expect(status()).toBe('connected'));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));

    fireEvent.click(screen.getByText(`send to ${w.direct}`));
    await waitFor(() => expect(w.broker.messages(w.direct)).toHaveLength(1));
    expect(lines(w.direct)).toEqual(['hello|pending|-']);

    w.broker.releaseReceipts();
    await waitFor(() => expect(lines(w.direct)).toEqual(['hello|sent|1']));
  });

  it('a send whose RECEIPT was lost in a drop stays pending, goes again with the same client-msg-id, and shows once', async () => {
    const w = world();
    w.broker.ownCopies = false;
    render(provider(w, <RoomView roomId={w.direct} />));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));

    w.broker.dropBeforeNextReceipt = true;
    w.broker.down = true;
    fireEvent.click(screen.getByText(`send to ${w.direct}`));
    await waitFor(() => expect(status()).toBe('connecting'));
    expect(lines(w.direct)).toEqual(['hello|pending|-']);
    expect(w.broker.messages(w.direct)).toHaveLength(1);

    w.broker.down = false;
    await waitFor(() => expect(w.broker.frames('SEND', `/app/rooms/${w.direct}`)).toHaveLength(2));
    await waitFor(() => expect(lines(w.direct)).toEqual(['hello|sent|1']));
    const sends = w.broker.frames('SEND', `/app/rooms/${w.direct}`);
    expect(sends[0]!.headers['client-msg-id']).toBe('cmid-alice-1');
    expect(sends[1]!.headers['client-msg-id']).toBe('cmid-alice-1');
    expect(sends[1]!.conn).not.toBe(sends[0]!.conn);
    expect(w.broker.messages(w.direct)).toHaveLength(1);
  });
});

describe('refused sends', () => {
  it('a send refused by an ERROR frame (a plain broker) fails, is not sent again after the reconnect, and the connection comes back', async () => {
    const w = world();
    let client: ChatClient | undefined;
    render(
      provider(
        w,
        <>
          <Probe onClient={(c) => (client = c)} />
          <RoomView roomId={w.direct} />
        </>,
      ),
    );
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));

    w.broker.refuseSendsWith = 'access_refused';
    fireEvent.click(screen.getByText(`send to ${w.direct}`));
    await waitFor(() => expect(lines(w.direct)).toEqual(['hello|failed|-']));
    w.broker.refuseSendsWith = null;
    await waitFor(() => expect(w.broker.frames('CONNECT')).toHaveLength(2));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));
    expect(status()).toBe('connected');
    expect(w.broker.frames('SEND', `/app/rooms/${w.direct}`)).toHaveLength(1);

    // The person retries it: the same client-msg-id, stored once.
    act(() => client?.retry(w.direct, 'cmid-alice-1'));
    await waitFor(() => expect(lines(w.direct)).toEqual(['hello|sent|1']));
    expect(w.broker.frames('SEND', `/app/rooms/${w.direct}`).map((f) => f.headers['client-msg-id'])).toEqual(['cmid-alice-1', 'cmid-alice-1']);
    expect(client?.connection.pendingSends()).toBe(0);
  });
});

describe('token provider', () => {
  it('is asked once per connect attempt; a provider that fails counts as a failed attempt', async () => {
    const w = world();
    w.broker.down = true;
    let calls = 0;
    const token: TokenProvider = vi.fn(() => (++calls === 1 ? Promise.reject(new Error('refresh endpoint down')) : w.alice.token));
    render(provider(w, null, { token }));
    await waitFor(() => expect(w.broker.socketsOpened).toBeGreaterThanOrEqual(3));
    w.broker.down = false;
    await waitFor(() => expect(status()).toBe('connected'));
    // The first call rejected and opened no socket; every other call opened exactly one.
    expect(token).toHaveBeenCalledTimes(w.broker.socketsOpened + 1);
    expect(vi.mocked(token).mock.calls.every(([context]) => !context.expired)).toBe(true);
    expect(w.broker.frames('CONNECT')).toHaveLength(1);
  });

  it('after token_expired asks again with expired: true and reconnects with the new token, each time it expires', async () => {
    const w = world();
    let current = w.alice.token;
    const token: TokenProvider = vi.fn(({ expired }) => {
      if (expired) current = w.broker.issueToken(w.alice.user);
      return current;
    });
    const onAuthFailure = vi.fn();
    render(provider(w, <RoomView roomId={w.direct} />, { token, onAuthFailure }));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));

    const first = current;
    w.broker.refuseToken(first);
    act(() => w.broker.dropAll());
    await waitFor(() => expect(w.broker.frames('CONNECT')).toHaveLength(3));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(topic(w.direct)));
    const second = current;
    expect(second).not.toBe(first);
    expect(vi.mocked(token).mock.calls.map(([context]) => context.expired)).toEqual([false, false, true]);
    expect(w.broker.frames('CONNECT').map((f) => f.headers.passcode)).toEqual([first, first, second]);
    w.broker.post(w.direct, w.bob.user, 'after the refresh');
    await waitFor(() => expect(lines(w.direct)).toEqual(['after the refresh|sent|1']));

    // A later expiry is a new refresh, not a second refusal.
    w.broker.refuseToken(second);
    act(() => w.broker.dropAll());
    await waitFor(() => expect(w.broker.frames('CONNECT')).toHaveLength(5));
    await waitFor(() => expect(status()).toBe('connected'));
    expect(vi.mocked(token).mock.calls.map(([context]) => context.expired)).toEqual([false, false, true, false, true]);
    expect(onAuthFailure).not.toHaveBeenCalled();
  });

  it('a refreshed token refused again calls the latest onAuthFailure once and stops', async () => {
    const w = world();
    const token: TokenProvider = vi.fn(({ expired }) => {
      const fresh = w.broker.issueToken(w.alice.user);
      w.broker.refuseToken(fresh, expired ? 'unauthorized' : 'token_expired');
      return fresh;
    });
    const stale = vi.fn();
    const latest = vi.fn();
    const view = render(provider(w, null, { token, onAuthFailure: stale }));
    view.rerender(provider(w, null, { token, onAuthFailure: latest }));
    await waitFor(() => expect(latest).toHaveBeenCalledTimes(1));
    expect(latest).toHaveBeenCalledWith('unauthorized');
    expect(stale).not.toHaveBeenCalled();
    expect(status()).toBe('disconnected');
    expect(vi.mocked(token).mock.calls.map(([context]) => context.expired)).toEqual([false, true]);
    // No loop: several backoff periods (5–40 ms here) later, still two CONNECTs.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(w.broker.frames('CONNECT')).toHaveLength(2);
    expect(latest).toHaveBeenCalledTimes(1);
  });
});

describe('no leak', () => {
  it('leaves no window listener behind, after a normal session and after an auth failure', async () => {
    const add = vi.spyOn(window, 'addEventListener');
    const remove = vi.spyOn(window, 'removeEventListener');
    /** The connection's window listeners added and not removed since. */
    const live = () => {
      const count = new Map<string, number>();
      for (const [type] of add.mock.calls) count.set(type, (count.get(type) ?? 0) + 1);
      for (const [type] of remove.mock.calls) count.set(type, (count.get(type) ?? 0) - 1);
      return [...count].filter(([type, n]) => (type === 'online' || type === 'offline') && n > 0).map(([type]) => type).sort();
    };
    try {
      const w = world();
      const session = render(provider(w, null));
      await waitFor(() => expect(status()).toBe('connected'));
      expect(live()).toEqual(['offline', 'online']);
      session.unmount();
      await waitFor(() => expect(w.broker.connectionsOf('alice')).toBe(0));
      expect(live()).toEqual([]);

      const refused = world();
      refused.broker.rejectConnectWith = 'unauthorized';
      const onAuthFailure = vi.fn();
      const failed = render(provider(refused, null, { onAuthFailure }));
      await waitFor(() => expect(onAuthFailure).toHaveBeenCalledTimes(1));
      failed.unmount();
      await act(() => new Promise((resolve) => setTimeout(resolve, 0)));
      expect(live()).toEqual([]);
    } finally {
      add.mockRestore();
      remove.mockRestore();
    }
  });
});
