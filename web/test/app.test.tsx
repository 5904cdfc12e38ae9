//! The app's screens over the real realtime layer and the fake broker: StrictMode, routing by
//! visibility, bursts, and the motivating A → B → A → send scenario. The hooks on their own
//! (reference counting across components, pending sends, the token provider) are tested in
//! packages/react/test/hooks.test.tsx.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { navigate, roomPath } from '../src/app/router';
import { clientFor } from '../packages/react/test/helpers';
import { renderShell, roomList, world } from './harness';

const status = () => screen.getByRole('status', { name: 'Connection status' });
const toasts = () => screen.getByRole('status', { name: 'Notifications' });

describe('the app over the realtime layer', () => {
  it('under StrictMode connects once and subscribes once per destination', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'hi alice');
    renderShell(w, roomPath(w.direct), { strict: true });
    await waitFor(() => expect(status()).toHaveTextContent('Connected'));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('hi alice');
    await act(() => new Promise((resolve) => setTimeout(resolve, 50)));
    expect(w.broker.frames('CONNECT')).toHaveLength(1);
    const subscribed = w.broker.frames('SUBSCRIBE').map((f) => f.headers.destination);
    expect(subscribed.sort()).toEqual([`/topic/rooms/${w.direct}`, '/user/queue/errors', '/user/queue/notifications', '/user/queue/presence']);
    expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(0);
    expect(w.broker.httpLog.filter((l) => l.includes('/messages'))).toHaveLength(1);
    expect(within(log).getAllByText('hi alice')).toHaveLength(1);
  });

  it('routes by visibility: the room on screen shows, any other room toasts and counts', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(status()).toHaveTextContent('Connected'));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    const log = screen.getByRole('log', { name: 'Bob' });

    w.broker.post(w.direct, w.bob.user, 'for the open chat');
    await within(log).findByText('for the open chat');
    expect(within(toasts()).queryByText('for the open chat')).toBeNull();
    expect(within(roomList()).getByRole('link', { name: /^Bob/ })).not.toHaveTextContent(/unread/);

    w.broker.post(w.group, w.carol.user, 'for the other room');
    await within(toasts()).findByText('for the other room');
    expect(within(toasts()).getByText('Carol')).toBeTruthy();
    const groupLink = within(roomList()).getByRole('link', { name: /^Weekend trip/ });
    await waitFor(() => expect(groupLink).toHaveTextContent('1 unread'));
    expect(within(log).queryByText('for the other room')).toBeNull();

    fireEvent.click(within(toasts()).getByText('for the other room'));
    const groupLog = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(groupLog).findByText('for the other room');
    await waitFor(() => expect(within(roomList()).getByRole('link', { name: /^Weekend trip/ })).not.toHaveTextContent(/unread/));
    expect(within(toasts()).queryByText('for the other room')).toBeNull();
    await waitFor(() => expect(w.broker.httpLog).toContain(`POST /api/rooms/${w.group}/read 1`));
  });

  it('shows a message for the room on screen that came on notifications (a SUBSCRIBE race), without a toast', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    w.broker.forceNotifications = true;
    w.broker.post(w.direct, w.bob.user, 'raced');
    await within(screen.getByRole('log', { name: 'Bob' })).findByText('raced');
    expect(within(toasts()).queryByText('raced')).toBeNull();
  });

  it('takes 1,000 messages in one tick: all shown once in the open room, counted in another', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    const log = screen.getByRole('log', { name: 'Bob' });

    w.broker.burst(w.direct, w.bob.user, 1000);
    await waitFor(() => expect(log.querySelectorAll('.message')).toHaveLength(1000), { timeout: 20_000 });
    const seqs = [...log.querySelectorAll('.message')].map((el) => Number(el.getAttribute('data-seq')));
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(within(log).getByText('burst 1000')).toBeTruthy();
    w.broker.burst(w.group, w.carol.user, 1000);
    const groupLink = within(roomList()).getByRole('link', { name: /^Weekend trip/ });
    await waitFor(() => expect(groupLink).toHaveTextContent('1000 unread'), { timeout: 20_000 });
    expect(groupLink).toHaveTextContent('burst 1000');
    const region = toasts();
    await within(region).findByText('burst 1000');
    expect(within(region).getByText('+999 more')).toBeTruthy();
    expect(log.querySelectorAll('.message')).toHaveLength(1000);
  }, 30_000);

  it('route flips A → B → A then send: the message shows once, and what came meanwhile is there', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'hey alice');
    renderShell(w, roomPath(w.direct));
    const directLog = await screen.findByRole('log', { name: 'Bob' });
    await within(directLog).findByText('hey alice');

    fireEvent.click(within(roomList()).getByRole('link', { name: /^Weekend trip/ }));
    await screen.findByRole('log', { name: 'Weekend trip' });
    await waitFor(() => expect(w.broker.frames('UNSUBSCRIBE')).toHaveLength(1));
    w.broker.post(w.direct, w.bob.user, 'while you were away');
    await within(toasts()).findByText('while you were away');

    fireEvent.click(within(roomList()).getByRole('link', { name: /^Bob/ }));
    const back = await screen.findByRole('log', { name: 'Bob' });
    await within(back).findByText('while you were away');
    const composer = screen.getByRole('textbox', { name: 'Message' });
    fireEvent.change(composer, { target: { value: 'back again' } });
    fireEvent.keyDown(composer, { key: 'Enter', code: 'Enter' });

    await waitFor(() => expect(within(back).getAllByText('back again')).toHaveLength(1));
    await waitFor(() => expect(back.querySelector('.message.mine')?.className).toContain('sent'));
    await act(() => new Promise((resolve) => setTimeout(resolve, 30)));
    expect(within(back).getAllByText('back again')).toHaveLength(1);
    expect(within(back).getAllByText('while you were away')).toHaveLength(1);
    expect(w.broker.messages(w.direct).map((m) => m.text)).toEqual(['hey alice', 'while you were away', 'back again']);
    const resubscribe = w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`);
    expect(resubscribe.map((f) => f.headers['since-seq'])).toEqual(['1', '2']);
    expect(within(roomList()).getByRole('link', { name: /^Bob/ })).not.toHaveTextContent(/unread/);
  });

  it('on resync reloads the room list and fetches what the open room missed', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    w.broker.post(w.direct, w.bob.user, 'heard');
    const log = screen.getByRole('log', { name: 'Bob' });
    await within(log).findByText('heard');
    const snapshots = w.broker.httpLog.filter((l) => l === 'GET /api/rooms').length;

    w.broker.postUnheard(w.direct, w.bob.user, 'lost on the way');
    w.broker.postUnheard(w.group, w.carol.user, 'lost elsewhere');
    expect(within(log).queryByText('lost on the way')).toBeNull();
    act(() => w.broker.resync());

    await within(log).findByText('lost on the way');
    const groupLink = within(roomList()).getByRole('link', { name: /^Weekend trip/ });
    await waitFor(() => expect(groupLink).toHaveTextContent('1 unread'));
    expect(groupLink).toHaveTextContent('lost elsewhere');
    expect(w.broker.httpLog.filter((l) => l === 'GET /api/rooms')).toHaveLength(snapshots + 1);
    expect(w.broker.httpLog).toContain(`GET /api/rooms/${w.direct}/messages?before=&after=1`);
    expect(within(log).getAllByText('heard')).toHaveLength(1);
    expect(within(log).getAllByText('lost on the way')).toHaveLength(1);
    expect(within(toasts()).queryByText('lost on the way')).toBeNull();
  });

  it('shows Reconnecting… during a drop and restores the open room with since-seq', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await waitFor(() => expect(status()).toHaveTextContent('Connected'));
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    w.broker.post(w.direct, w.bob.user, 'before');
    const log = screen.getByRole('log', { name: 'Bob' });
    await within(log).findByText('before');
    w.broker.down = true;
    act(() => w.broker.dropAll());
    await waitFor(() => expect(status()).toHaveTextContent('Reconnecting…'));
    w.broker.post(w.direct, w.bob.user, 'during');
    w.broker.down = false;
    await waitFor(() => expect(status()).toHaveTextContent('Connected'));
    await within(log).findByText('during');
    expect(within(log).getAllByText('before')).toHaveLength(1);
    expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`).at(-1)?.headers['since-seq']).toBe('1');
    act(() => navigate('/'));
  });

  it('a room the user is not in, or no room at all, says so with a way back and no composer', async () => {
    const w = world();
    const dave = w.broker.addUser('dave');
    const theirs = w.broker.addRoom('direct', '', [w.bob.user, dave.user]);
    renderShell(w, roomPath(theirs));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('You are not in this conversation');
    expect(screen.queryByRole('textbox', { name: 'Message' })).toBeNull();
    expect(screen.queryByRole('log')).toBeNull();

    act(() => navigate(roomPath(999_999)));
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('Conversation not found'));
    expect(screen.queryByRole('textbox', { name: 'Message' })).toBeNull();

    // One way back, whatever the screen size (no header Back icon beside it).
    expect(screen.getAllByRole('button', { name: /^Back/ }).map((b) => b.getAttribute('aria-label') ?? b.textContent)).toEqual(['Back to your chats']);
    fireEvent.click(screen.getByRole('button', { name: 'Back to your chats' }));
    await screen.findByText('Pick a conversation');
    expect(window.location.pathname).toBe('/');
  });

  it('shows the @username beside the sender in a group, not in a direct room', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'group hello');
    w.broker.post(w.direct, w.bob.user, 'direct hello');
    renderShell(w, roomPath(w.group));
    const groupLog = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(groupLog).findByText('group hello');
    expect(within(groupLog).getByText('@bob')).toBeTruthy();

    act(() => navigate(roomPath(w.direct)));
    const directLog = await screen.findByRole('log', { name: 'Bob' });
    await within(directLog).findByText('direct hello');
    expect(within(directLog).queryByText('@bob')).toBeNull();
  });

  it('names the sender with the @username in a group room preview, not in a direct one', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'group hello');
    w.broker.post(w.direct, w.bob.user, 'direct hello');
    renderShell(w, '/');
    const groupLink = await within(roomList()).findByRole('link', { name: /^Weekend trip/ });
    await waitFor(() => expect(groupLink.querySelector('.room-preview')).toHaveTextContent('Bob @bob: group hello'));
    const directLink = within(roomList()).getByRole('link', { name: /^Bob/ });
    expect(directLink.querySelector('.room-preview')).toHaveTextContent(/^direct hello$/);
  });

  it('names who is typing with the @username in a group, by display name in a direct room', async () => {
    const w = world();
    const bob = clientFor(w.broker, w.bob.user, w.bob.token, { typingThrottleMs: 0 });
    bob.start();
    renderShell(w, roomPath(w.group));
    await screen.findByRole('log', { name: 'Weekend trip' });
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.group}`)).toHaveLength(1));
    await waitFor(() => expect(bob.connection.isReady).toBe(true));
    bob.notifyTyping(w.group);
    await waitFor(() => expect(document.querySelector('.typing')).toHaveTextContent('Bob @bob is typing…'));

    act(() => navigate(roomPath(w.direct)));
    await screen.findByRole('log', { name: 'Bob' });
    await waitFor(() => expect(w.broker.frames('SUBSCRIBE', `/topic/rooms/${w.direct}`)).toHaveLength(1));
    bob.notifyTyping(w.direct);
    await waitFor(() => expect(document.querySelector('.typing')).toHaveTextContent(/^Bob is typing…$/));
    bob.stop();
  });
});
