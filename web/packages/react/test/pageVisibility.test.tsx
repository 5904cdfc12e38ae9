//! `useRoom` follows the page: while the tab is hidden or the window blurred, the open room is
//! not on screen, so its messages become a toast and an unread count instead of being read;
//! once the page is seen again the room is acquired again, caught up and marked read, and no
//! message shows twice.
import { act, render } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChatProvider, usePageVisible, useRoom } from '../src';
import { FakeBroker } from './fakeBroker';
import { clientFor, texts } from './helpers';

let hidden = false;
let focused = true;

/** Sets what the document says about the page and fires the event a browser would. */
function setPage(next: { hidden?: boolean; focused?: boolean }, event: 'visibilitychange' | 'blur' | 'focus'): void {
  hidden = next.hidden ?? hidden;
  focused = next.focused ?? focused;
  vi.spyOn(document, 'visibilityState', 'get').mockImplementation(() => (hidden ? 'hidden' : 'visible'));
  vi.spyOn(document, 'hasFocus').mockImplementation(() => focused);
  act(() => {
    if (event === 'visibilitychange') document.dispatchEvent(new Event('visibilitychange'));
    else window.dispatchEvent(new Event(event));
  });
}

afterEach(() => {
  hidden = false;
  focused = true;
  vi.restoreAllMocks();
  vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
});

function View({ roomId, followPage }: { roomId: number; followPage?: boolean }) {
  const { messages } = useRoom(roomId, { followPage });
  const seen = usePageVisible();
  return (
    <p>
      {messages.length} {seen ? 'seen' : 'unseen'}
    </p>
  );
}

async function setup(followPage?: boolean) {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const direct = broker.addRoom('direct', '', [alice.user, bob.user]);
  const client = clientFor(broker, alice.user, alice.token);
  const view = render(
    <ChatProvider client={client}>
      <View roomId={direct} followPage={followPage} />
    </ChatProvider>,
  );
  await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
  await vi.waitFor(() => expect(client.rooms.get(direct)).toBeDefined());
  expect(client.isVisible(direct)).toBe(true);
  return { broker, alice, bob, direct, client, view };
}

describe('useRoom and the page', () => {
  it('a hidden tab leaves a message unread and toasted; showing the tab reads it, once', async () => {
    const { broker, alice, bob, direct, client, view } = await setup();
    setPage({ hidden: true }, 'visibilitychange');
    expect(view.container.textContent).toContain('unseen');
    expect(client.isVisible(direct)).toBe(false);
    act(() => void broker.post(direct, bob.user, 'while away'));
    await vi.waitFor(() => expect(client.toasts.getSnapshot()).toHaveLength(1));
    expect(client.rooms.get(direct)?.unread).toBe(1);
    // Not read, neither here nor on the server.
    expect(broker.readBy(direct, alice.user.id)).toBe(0);

    setPage({ hidden: false }, 'visibilitychange');
    expect(client.isVisible(direct)).toBe(true);
    await vi.waitFor(() => expect(broker.readBy(direct, alice.user.id)).toBe(1));
    expect(client.rooms.get(direct)?.unread).toBe(0);
    expect(client.toasts.getSnapshot()).toEqual([]);
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${String(direct)}`)).toHaveLength(2));
    expect(texts(client, direct)).toEqual(['while away']);
  });

  it('a blurred window counts as away too, and focus brings the room back', async () => {
    const { broker, alice, bob, direct, client } = await setup();
    setPage({ focused: false }, 'blur');
    expect(client.isVisible(direct)).toBe(false);
    act(() => void broker.post(direct, bob.user, 'one'));
    act(() => void broker.post(direct, bob.user, 'two'));
    await vi.waitFor(() => expect(client.rooms.get(direct)?.unread).toBe(2));
    expect(client.toasts.getSnapshot()[0]?.count).toBe(2);

    setPage({ focused: true }, 'focus');
    await vi.waitFor(() => expect(broker.readBy(direct, alice.user.id)).toBe(2));
    await vi.waitFor(() => expect(broker.frames('SUBSCRIBE', `/topic/rooms/${String(direct)}`)).toHaveLength(2));
    expect(texts(client, direct)).toEqual(['one', 'two']);
  });

  it('followPage: false keeps the room on screen whatever the page', async () => {
    const { broker, bob, direct, client } = await setup(false);
    setPage({ hidden: true, focused: false }, 'visibilitychange');
    expect(client.isVisible(direct)).toBe(true);
    act(() => void broker.post(direct, bob.user, 'kiosk'));
    await vi.waitFor(() => expect(texts(client, direct)).toEqual(['kiosk']));
    expect(client.toasts.getSnapshot()).toEqual([]);
  });
});
