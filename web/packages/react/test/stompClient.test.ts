//! The plain STOMP mode against a fake topic broker: the rooms of the user followed for the
//! whole session, one SUBSCRIBE per topic whatever shows it, routing by visibility on the
//! client, each message once (echo, receipt, redelivery, history), resubscribe and resend
//! after a drop, and recovery through `loadHistory`.
import { describe, expect, it, vi } from 'vitest';
import { jsonCodec, MessageActionError, StompChatClient, type Message, type StompChatClientOptions, type StompMessage, type User } from '../src';
import { FakeTopicBroker } from './fakeTopicBroker';

const alice: User = { id: 1, username: 'alice', displayName: 'Alice' };
const bob: User = { id: 2, username: 'bob', displayName: 'Bob' };
const DIRECT = 1;
const GROUP = 2;
const topic = (roomId: number) => `/topic/test.rooms.${String(roomId)}`;

function clientOf(broker: FakeTopicBroker, me: User, options: Partial<StompChatClientOptions> = {}): StompChatClient {
  let n = 0;
  return new StompChatClient({
    me,
    webSocketFactory: broker.factory(),
    connectHeaders: { login: 'guest', passcode: 'guest' },
    rooms: [
      { id: DIRECT, kind: 'direct', name: me.id === alice.id ? 'Bob' : 'Alice' },
      { id: GROUP, kind: 'group', name: 'Weekend trip' },
    ],
    destinations: { topic },
    heartbeatMs: 0,
    backoff: { initialMs: 5, maxMs: 40, factor: 2, jitter: 0.5 },
    random: () => 0.5,
    toastMs: 0,
    newId: () => `cmid-${me.username}-${++n}`,
    ...options,
  });
}

/** A message as another app instance would publish it. */
function published(roomId: number, sender: User, text: string, clientMsgId: string): string {
  const message: StompMessage = { clientMsgId, roomId, sender, text, sentAt: new Date().toISOString() };
  return JSON.stringify({ type: 'message', message });
}

const texts = (client: StompChatClient, roomId: number) => client.messages.getSnapshot(roomId).messages.map((m) => m.text);

async function started(client: StompChatClient): Promise<void> {
  client.start();
  await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
}

describe('StompChatClient (plain STOMP mode)', () => {
  it('connects once with the broker credentials and follows each room of the user with one SUBSCRIBE, no sotong queues', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    expect(broker.frames('CONNECT')).toHaveLength(1);
    expect(broker.frames('CONNECT')[0]!.headers).toMatchObject({ login: 'guest', passcode: 'guest' });
    expect(broker.frames('CONNECT')[0]!.headers.Authorization).toBeUndefined();
    expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP)]);
  });

  it('a room on screen shares the room list’s SUBSCRIBE; a room outside the list is subscribed while shown only', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    const hide = client.watchRoom(DIRECT);
    const hideAgain = client.watchRoom(DIRECT);
    const hideOther = client.watchRoom(7);
    await vi.waitFor(() => expect(broker.subscribed()).toContain(topic(7)));
    hide();
    hideAgain();
    hideOther();
    await vi.waitFor(() => expect(broker.frames('UNSUBSCRIBE')).toHaveLength(1));
    expect(broker.frames('SUBSCRIBE', topic(DIRECT))).toHaveLength(1);
    expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP)]);
  });

  it('follows a room added later, and stops following one the user left (unless a view still shows it)', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    client.addRoom({ id: 3, kind: 'group', name: 'Book club' });
    await vi.waitFor(() => expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP), topic(3)]));
    const hide = client.watchRoom(GROUP);
    client.removeRoom(GROUP);
    client.removeRoom(3);
    await vi.waitFor(() => expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP)]));
    expect(client.rooms.getSnapshot().map((room) => room.id)).toEqual([DIRECT]);
    hide();
    await vi.waitFor(() => expect(broker.subscribed()).toEqual([topic(DIRECT)]));
  });

  it('routes by visibility: the room on screen shows the message, any other raises a toast and an unread count, never both', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    const notified = vi.fn();
    client.onNotification(notified);
    await started(client);
    client.watchRoom(DIRECT);
    broker.publish(topic(DIRECT), published(DIRECT, bob, 'on screen', 'b-1'));
    broker.publish(topic(GROUP), published(GROUP, bob, 'elsewhere', 'b-2'));
    await vi.waitFor(() => expect(client.toasts.getSnapshot()).toHaveLength(1));
    await vi.waitFor(() => expect(texts(client, DIRECT)).toEqual(['on screen']));
    expect(client.toasts.getSnapshot()[0]).toMatchObject({ roomId: GROUP, roomName: 'Weekend trip', text: 'elsewhere' });
    expect(client.rooms.get(DIRECT)?.unread).toBe(0);
    expect(client.rooms.get(GROUP)?.unread).toBe(1);
    expect(notified).toHaveBeenCalledTimes(1);
    expect(notified.mock.calls[0]![0]).toMatchObject({ type: 'message', roomId: GROUP, unread: 1 });
  });

  it('the seed scenario: direct → group → back → send shows the own message once and reaches the other side', async () => {
    const broker = new FakeTopicBroker();
    const a = clientOf(broker, alice);
    const b = clientOf(broker, bob);
    await started(a);
    await started(b);
    const showBobGroup = b.watchRoom(GROUP);
    a.watchRoom(DIRECT)();
    const leaveGroup = a.watchRoom(GROUP);
    leaveGroup();
    a.watchRoom(DIRECT);
    a.send(DIRECT, 'are you there?');
    await vi.waitFor(() => expect(a.messages.getSnapshot(DIRECT).messages.map((m) => [m.text, m.state])).toEqual([['are you there?', 'sent']]));
    await vi.waitFor(() => expect(b.toasts.getSnapshot()).toHaveLength(1));
    expect(b.toasts.getSnapshot()[0]).toMatchObject({ roomId: DIRECT, text: 'are you there?' });
    expect(texts(b, GROUP)).toEqual([]);
    showBobGroup();
    b.watchRoom(DIRECT);
    expect(texts(b, DIRECT)).toEqual(['are you there?']);
    expect(b.toasts.getSnapshot()).toEqual([]);
    expect(b.rooms.get(DIRECT)?.unread).toBe(0);
  });

  it('shows an own message once whether the RECEIPT or the echo comes first, and a redelivered one once', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    client.watchRoom(DIRECT);
    broker.duplicateNextSend = true;
    client.send(DIRECT, 'one');
    client.send(DIRECT, 'two');
    await vi.waitFor(() => expect(client.messages.getSnapshot(DIRECT).messages.every((m) => m.state === 'sent')).toBe(true));
    await vi.waitFor(() => expect(broker.frames('SEND')).toHaveLength(2));
    broker.publish(topic(DIRECT), published(DIRECT, alice, 'one', 'cmid-alice-1'));
    await vi.waitFor(() => expect(texts(client, DIRECT)).toEqual(['one', 'two']));
    const shown = client.messages.getSnapshot(DIRECT).messages;
    expect(shown.map((m) => m.seq)).toEqual([1, 2]);
    expect(shown.map((m) => m.clientMsgId)).toEqual(['cmid-alice-1', 'cmid-alice-2']);
  });

  it('on a broker that sends no RECEIPT for a SEND, the echo confirms it and a reconnect does not send it again', async () => {
    const broker = new FakeTopicBroker();
    broker.receiptsForSends = false;
    const client = clientOf(broker, alice);
    await started(client);
    client.watchRoom(DIRECT);
    client.send(DIRECT, 'echoed only');
    await vi.waitFor(() => expect(client.messages.getSnapshot(DIRECT).messages[0]).toMatchObject({ state: 'sent', text: 'echoed only' }));
    expect(client.connection.pendingSends()).toBe(0);
    broker.dropAll();
    await vi.waitFor(() => expect(broker.frames('CONNECT')).toHaveLength(2));
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    client.send(DIRECT, 'after');
    await vi.waitFor(() => expect(texts(client, DIRECT)).toEqual(['echoed only', 'after']));
    expect(broker.frames('SEND').map((f) => f.headers['client-msg-id'])).toEqual(['cmid-alice-1', 'cmid-alice-2']);
  });

  it('after the broker drops the socket it resubscribes every room and resends what was pending with the same client id', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    client.watchRoom(DIRECT);
    broker.down = true;
    broker.dropAll();
    await vi.waitFor(() => expect(client.connection.status).toBe('connecting'));
    client.send(DIRECT, 'written offline');
    expect(client.messages.getSnapshot(DIRECT).messages[0]).toMatchObject({ state: 'pending' });
    expect(broker.frames('SEND')).toHaveLength(0);
    broker.down = false;
    await vi.waitFor(() => expect(client.messages.getSnapshot(DIRECT).messages[0]).toMatchObject({ state: 'sent' }));
    expect(broker.frames('CONNECT')).toHaveLength(2);
    expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP)]);
    expect(broker.frames('SEND').map((f) => f.headers['client-msg-id'])).toEqual(['cmid-alice-1']);
    await vi.waitFor(() => expect(texts(client, DIRECT)).toEqual(['written offline']));
  });

  it('recovers through loadHistory on every (re)subscribe, before the live messages that arrived meanwhile, without toasts', async () => {
    const broker = new FakeTopicBroker();
    const history = new Map<number, StompMessage[]>([[GROUP, []]]);
    const asked: Array<[number, string | undefined]> = [];
    let release: (() => void) | undefined;
    const loadHistory = (roomId: number, after: Message | undefined): Promise<StompMessage[]> => {
      asked.push([roomId, after?.text]);
      const all = history.get(roomId) ?? [];
      const from = after ? all.findIndex((m) => m.clientMsgId === after.clientMsgId) + 1 : 0;
      const page = all.slice(from);
      if (roomId !== GROUP || !after) return Promise.resolve(page);
      // The reconnect's recovery waits until the test lets it go.
      return new Promise((resolve) => {
        release = () => resolve(page);
      });
    };
    const decode = vi.fn(jsonCodec.decode);
    const client = clientOf(broker, alice, { loadHistory, codec: { encode: jsonCodec.encode, decode } });
    await started(client);
    const say = (roomId: number, text: string, id: string) => {
      const message: StompMessage = { clientMsgId: id, roomId, sender: bob, text, sentAt: new Date().toISOString() };
      history.get(roomId)?.push(message);
      return message;
    };
    broker.publish(topic(GROUP), JSON.stringify({ type: 'message', message: say(GROUP, 'before the drop', 'h-1') }));
    await vi.waitFor(() => expect(texts(client, GROUP)).toEqual(['before the drop']));
    expect(asked).toEqual([
      [DIRECT, undefined],
      [GROUP, undefined],
    ]);
    client.toasts.dismissRoom(GROUP);
    broker.down = true;
    broker.dropAll();
    await vi.waitFor(() => expect(client.connection.status).toBe('connecting'));
    say(GROUP, 'missed 1', 'h-2');
    say(GROUP, 'missed 2', 'h-3');
    broker.down = false;
    await vi.waitFor(() => expect(release).toBeDefined());
    expect(asked.at(-1)).toEqual([GROUP, 'before the drop']);
    await vi.waitFor(() => expect(broker.subscribed()).toEqual([topic(DIRECT), topic(GROUP)]));
    broker.publish(topic(GROUP), JSON.stringify({ type: 'message', message: say(GROUP, 'live', 'h-4') }));
    // Arrived, and held back while the history loads.
    await vi.waitFor(() => expect(decode.mock.calls.some(([frame]) => frame.body.includes('"live"'))).toBe(true));
    await Promise.resolve();
    expect(texts(client, GROUP)).toEqual(['before the drop']);
    release?.();
    await vi.waitFor(() => expect(texts(client, GROUP)).toEqual(['before the drop', 'missed 1', 'missed 2', 'live']));
    expect(client.rooms.get(GROUP)?.unread).toBe(4);
    expect(client.toasts.getSnapshot().map((t) => t.text)).toEqual(['live']);
  });

  it('a SEND the broker refuses with an ERROR fails, and is not sent again after the reconnect', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    broker.refused.add(topic(GROUP));
    client.send(GROUP, 'not allowed');
    await vi.waitFor(() => expect(client.messages.getSnapshot(GROUP).messages[0]).toMatchObject({ state: 'failed', error: 'access_refused' }));
    await vi.waitFor(() => expect(broker.frames('CONNECT')).toHaveLength(2));
    await vi.waitFor(() => expect(client.connection.isReady).toBe(true));
    client.send(DIRECT, 'still works');
    await vi.waitFor(() => expect(texts(client, DIRECT)).toEqual(['still works']));
    expect(broker.frames('SEND', topic(GROUP))).toHaveLength(1);
  });

  it('sends to a separate destination when the app says so (Spring: SEND to /app, SUBSCRIBE to /topic)', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice, { destinations: { topic, send: (roomId) => `/app/chat.${String(roomId)}` } });
    await started(client);
    client.send(GROUP, 'hi');
    await vi.waitFor(() => expect(broker.frames('SEND', '/app/chat.2')).toHaveLength(1));
    expect(JSON.parse(broker.frames('SEND')[0]!.body)).toMatchObject({ type: 'message', message: { clientMsgId: 'cmid-alice-1', roomId: GROUP, text: 'hi', sender: alice } });
  });

  it('shows typing from others in the room on screen only, and ignores frames it cannot read', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice, { typingThrottleMs: 0 });
    await started(client);
    client.watchRoom(DIRECT);
    broker.publish(topic(DIRECT), 'not json');
    broker.publish(topic(DIRECT), JSON.stringify({ type: 'typing', roomId: DIRECT, user: bob }));
    broker.publish(topic(GROUP), JSON.stringify({ type: 'typing', roomId: GROUP, user: bob }));
    await vi.waitFor(() => expect(client.messages.getSnapshot(DIRECT).typing).toEqual([bob]));
    expect(client.messages.getSnapshot(GROUP).typing).toEqual([]);
    client.notifyTyping(DIRECT);
    await vi.waitFor(() => expect(broker.frames('SEND', topic(DIRECT))).toHaveLength(1));
    expect(client.messages.getSnapshot(DIRECT).messages).toEqual([]);
  });

  it('has no edits, deletes or reactions: all reject with unsupported and send nothing', async () => {
    const broker = new FakeTopicBroker();
    const client = clientOf(broker, alice);
    await started(client);
    const sendsBefore = broker.frames('SEND').length;
    await expect(client.editMessage()).rejects.toEqual(new MessageActionError('unsupported', 'editing messages needs a sotong server'));
    await expect(client.deleteMessage()).rejects.toMatchObject({ code: 'unsupported' });
    await expect(client.react()).rejects.toMatchObject({ code: 'unsupported' });
    expect(broker.frames('SEND')).toHaveLength(sendsBefore);
  });
});
