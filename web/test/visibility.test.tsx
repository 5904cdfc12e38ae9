//! The app while the user is away (tab hidden or window unfocused): the open room's messages
//! stay unread, the tab title counts them, desktop notifications say who wrote what (mentions
//! as such), and coming back reads them with a "New messages" divider above the first, until
//! the user sends. The notification permission is asked only from the prompt's button.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { navigate, roomPath } from '../src/app/router';
import { promptKey } from '../src/features/notifications/NotificationPrompt';
import { renderShell, world } from './harness';

/** A stand-in for the browser's `Notification`, recording what the app raises. */
class FakeNotification {
  static permission: NotificationPermission = 'granted';
  static requestPermission = vi.fn(() => Promise.resolve<NotificationPermission>('granted'));
  static raised: FakeNotification[] = [];
  onclick: (() => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;
  constructor(
    readonly title: string,
    readonly options: NotificationOptions = {},
  ) {
    FakeNotification.raised.push(this);
  }
  close(): void {
    this.closed = true;
    this.onclose?.();
  }
}

let hidden = false;
function setHidden(next: boolean): void {
  hidden = next;
  act(() => void document.dispatchEvent(new Event('visibilitychange')));
}

beforeEach(() => {
  hidden = false;
  FakeNotification.permission = 'granted';
  FakeNotification.raised = [];
  FakeNotification.requestPermission.mockClear();
  vi.stubGlobal('Notification', FakeNotification);
  vi.spyOn(document, 'visibilityState', 'get').mockImplementation(() => (hidden ? 'hidden' : 'visible'));
  localStorage.clear();
});

afterEach(() => {
  vi.unstubAllGlobals();
  act(() => navigate('/'));
});

const divider = () => screen.queryByRole('separator', { name: 'New messages' });

describe('away from the page', () => {
  it('the tab title counts unread messages of every room', async () => {
    const w = world();
    renderShell(w, '/');
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', '/user/queue/notifications')).toHaveLength(1));
    expect(document.title).toBe('sotong');
    w.broker.post(w.direct, w.bob.user, 'one');
    w.broker.post(w.group, w.carol.user, 'two');
    w.broker.post(w.group, w.carol.user, 'three');
    await waitFor(() => expect(document.title).toBe('(3) sotong'));
    fireEvent.click(within(screen.getByRole('navigation', { name: 'Rooms' })).getByRole('link', { name: /^Weekend trip/ }));
    await waitFor(() => expect(document.title).toBe('(1) sotong'));
  });

  it('a hidden page leaves the open room unread and notifies; coming back reads it with a divider until a send', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'read before');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('read before');
    await waitFor(() => expect(w.broker.readBy(w.direct, w.alice.user.id)).toBe(1));
    expect(divider()).toBeNull();

    setHidden(true);
    w.broker.post(w.direct, w.bob.user, 'while away');
    w.broker.post(w.direct, w.bob.user, 'hey @alice look');
    await waitFor(() => expect(document.title).toBe('(2) sotong'));
    await waitFor(() => expect(FakeNotification.raised).toHaveLength(2));
    expect(FakeNotification.raised.map((n) => [n.title, n.options.body])).toEqual([
      ['Bob', 'while away'],
      ['Bob mentioned you', 'hey @alice look'],
    ]);
    expect(w.broker.readBy(w.direct, w.alice.user.id)).toBe(1);
    expect(w.broker.httpLog.filter((l) => l.startsWith(`POST /api/rooms/${w.direct}/read`))).toHaveLength(1);

    setHidden(false);
    await waitFor(() => expect(w.broker.readBy(w.direct, w.alice.user.id)).toBe(3));
    await waitFor(() => expect(document.title).toBe('sotong'));
    expect(FakeNotification.raised.every((n) => n.closed)).toBe(true);
    // The divider sits right above the first message that came while away.
    const line = divider();
    expect(line).not.toBeNull();
    expect(line?.previousElementSibling).toHaveTextContent('read before');
    expect(line?.nextElementSibling).toHaveTextContent('while away');
    expect(within(log).getAllByText('while away')).toHaveLength(1);

    const composer = screen.getByRole('textbox', { name: 'Message' });
    fireEvent.change(composer, { target: { value: 'back' } });
    fireEvent.keyDown(composer, { key: 'Enter', code: 'Enter' });
    await within(log).findByText('back');
    expect(divider()).toBeNull();
  });

  it('opening a room with unread messages shows the divider; a later absence moves it to what came then', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'first');
    renderShell(w, '/');
    await waitFor(() => expect(document.title).toBe('(1) sotong'));
    fireEvent.click(within(screen.getByRole('navigation', { name: 'Rooms' })).getByRole('link', { name: /^Bob/ }));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('first');
    expect(divider()?.nextElementSibling).toHaveTextContent('first');
    await waitFor(() => expect(w.broker.readBy(w.direct, w.alice.user.id)).toBe(1));

    setHidden(true);
    // Away with nothing new: the divider stays where it was.
    expect(divider()?.nextElementSibling).toHaveTextContent('first');
    w.broker.post(w.direct, w.bob.user, 'second');
    await within(log).findByText('second');
    setHidden(false);
    await waitFor(() => expect(w.broker.readBy(w.direct, w.alice.user.id)).toBe(2));
    expect(screen.getAllByRole('separator', { name: 'New messages' })).toHaveLength(1);
    expect(divider()?.nextElementSibling).toHaveTextContent('second');
  });

  it('a blurred window counts as away, and clicking a notification opens its room', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await screen.findByRole('log', { name: 'Bob' });
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    vi.spyOn(document, 'hasFocus').mockImplementation(() => false);
    act(() => void window.dispatchEvent(new Event('blur')));
    w.broker.post(w.group, w.carol.user, 'in the group');
    await waitFor(() => expect(FakeNotification.raised).toHaveLength(1));
    expect(FakeNotification.raised[0]?.title).toBe('Carol in Weekend trip');
    vi.spyOn(document, 'hasFocus').mockImplementation(() => true);
    const focus = vi.spyOn(window, 'focus').mockImplementation(() => {});
    act(() => {
      FakeNotification.raised[0]?.onclick?.();
      window.dispatchEvent(new Event('focus'));
    });
    expect(focus).toHaveBeenCalled();
    const groupLog = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(groupLog).findByText('in the group');
    await waitFor(() => expect(w.broker.readBy(w.group, w.alice.user.id)).toBe(1));
  });

  it('raises no desktop notification while the page is seen (toasts do), nor without permission', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    w.broker.post(w.group, w.carol.user, 'seen as a toast');
    await within(screen.getByRole('status', { name: 'Notifications' })).findByText('seen as a toast');
    FakeNotification.permission = 'denied';
    setHidden(true);
    w.broker.post(w.group, w.carol.user, 'not allowed');
    await waitFor(() => expect(document.title).toBe('(2) sotong'));
    expect(FakeNotification.raised).toEqual([]);
  });
});

describe('the desktop notifications prompt', () => {
  it('asks for the permission only on its button, once, and is remembered', async () => {
    FakeNotification.permission = 'default';
    const w = world();
    const view = renderShell(w, '/');
    const prompt = await screen.findByRole('region', { name: 'Desktop notifications' });
    expect(FakeNotification.requestPermission).not.toHaveBeenCalled();
    fireEvent.click(within(prompt).getByRole('button', { name: 'Turn on desktop notifications' }));
    expect(FakeNotification.requestPermission).toHaveBeenCalledTimes(1);
    expect(screen.queryByRole('region', { name: 'Desktop notifications' })).toBeNull();
    expect(localStorage.getItem(promptKey(w.alice.user.id))).toBe('asked');
    view.unmount();
    renderShell(w, '/');
    await screen.findByRole('navigation', { name: 'Rooms' });
    expect(screen.queryByRole('region', { name: 'Desktop notifications' })).toBeNull();
  });

  it('"Not now" hides it for that user without asking', async () => {
    FakeNotification.permission = 'default';
    const w = world();
    renderShell(w, '/');
    fireEvent.click(await screen.findByRole('button', { name: 'Not now' }));
    expect(screen.queryByRole('region', { name: 'Desktop notifications' })).toBeNull();
    expect(localStorage.getItem(promptKey(w.alice.user.id))).toBe('dismissed');
    expect(FakeNotification.requestPermission).not.toHaveBeenCalled();
  });

  it('is not shown once the browser has an answer', async () => {
    FakeNotification.permission = 'granted';
    renderShell(world(), '/');
    await screen.findByRole('navigation', { name: 'Rooms' });
    expect(screen.queryByRole('region', { name: 'Desktop notifications' })).toBeNull();
  });
});
