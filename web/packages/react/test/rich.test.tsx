//! Replies, reactions, mentions and attachments in the sotong mode, against the in-memory
//! sotong: what goes on the wire, what the view shows (at once, then as the server has it),
//! `reacted` changes taken by `rev`, mentions counted and toasted, and the attachment calls
//! (upload with progress, abort and the server's error; fetch with the bearer token).
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fetchAttachment, MessageActionError, SotongHttpError, SotongProvider, toggleReaction, uploadAttachment, useRoom, type SotongChatClient } from '../src';
import type { Message } from '../src/types';
import { FakeBroker } from './fakeBroker';
import { clientFor, optionsFor } from './helpers';

afterEach(cleanup);

function world() {
  const broker = new FakeBroker();
  const alice = broker.addUser('alice');
  const bob = broker.addUser('bob');
  const carol = broker.addUser('carol');
  const group = broker.addRoom('group', 'Plans', [alice.user, bob.user, carol.user]);
  const connect = (who: typeof alice) => {
    const client = clientFor(broker, who.user, who.token);
    client.start();
    return client;
  };
  return { broker, alice, bob, carol, group, connect };
}

const shown = (client: SotongChatClient, roomId: number, seq: number) => client.messages.getSnapshot(roomId).messages.find((m) => m.seq === seq);
const sendBodies = (broker: FakeBroker, roomId: number) => broker.frames('SEND', `/app/rooms/${roomId}`).map((f) => JSON.parse(f.body) as unknown);

describe('toggleReaction', () => {
  it('adds, counts, takes back and drops an emoji nobody uses any more; repeats change nothing', () => {
    let list = toggleReaction([], '👍', 1, true);
    list = toggleReaction(list, '🎉', 2, true);
    list = toggleReaction(list, '👍', 2, true);
    expect(list).toEqual([
      { emoji: '👍', count: 2, userIds: [1, 2] },
      { emoji: '🎉', count: 1, userIds: [2] },
    ]);
    expect(toggleReaction(list, '👍', 1, true)).toEqual(list);
    expect(toggleReaction(list, '😂', 1, false)).toEqual(list);
    expect(toggleReaction(list, '🎉', 2, false)).toEqual([{ emoji: '👍', count: 2, userIds: [1, 2] }]);
  });
});

describe('replies, reactions, mentions, attachments (sotong mode)', () => {
  it('a reply carries replyTo on the wire, shows the quote while pending, and is stored with it', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'lunch at noon?');
    const alice = w.connect(w.alice);
    alice.watchRoom(w.group);
    await vi.waitFor(() => expect(shown(alice, w.group, 1)?.text).toBe('lunch at noon?'));
    await vi.waitFor(() => expect(alice.connection.isReady).toBe(true));

    const preview = alice.messages.replyPreview(w.group, 1);
    alice.send(w.group, 'yes!', { replyTo: preview });
    const pending = alice.messages.getSnapshot(w.group).messages.at(-1);
    expect(pending).toMatchObject({ state: 'pending', replyTo: { seq: 1, text: 'lunch at noon?', sender: { username: 'bob' } } });
    await vi.waitFor(() => expect(shown(alice, w.group, 2)?.replyTo).toMatchObject({ seq: 1, sender: { username: 'bob' } }));
    expect(sendBodies(w.broker, w.group)).toEqual([{ text: 'yes!', replyTo: 1 }]);
    expect(w.broker.messages(w.group)[1]?.replyTo?.text).toBe('lunch at noon?');
  });

  it('a plain send stays {text} on the wire; attachments go as ids and show with the message', async () => {
    const w = world();
    const alice = w.connect(w.alice);
    alice.watchRoom(w.group);
    await vi.waitFor(() => expect(alice.connection.isReady).toBe(true));
    alice.send(w.group, 'plain');
    const file = w.broker.addUpload(w.group, w.alice.user, 'plan.pdf', 'application/pdf', 1_245_184);
    alice.send(w.group, '', { attachments: [file] });
    await vi.waitFor(() => expect(shown(alice, w.group, 2)?.attachments).toEqual([file]));
    expect(sendBodies(w.broker, w.group)).toEqual([{ text: 'plain' }, { text: '', attachments: [file.id] }]);
    // An id that is not the sender's upload is refused: the send fails with the code.
    alice.send(w.group, 'sneaky', { attachments: [{ ...file, id: 999 }] });
    await vi.waitFor(() => expect(alice.messages.getSnapshot(w.group).messages.at(-1)).toMatchObject({ state: 'failed', error: 'invalid_attachment' }));
  });

  it('a reaction shows at once, reaches the other member as a reacted change, and a stale copy is ignored', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'shipped it');
    const alice = w.connect(w.alice);
    const bob = w.connect(w.bob);
    alice.watchRoom(w.group);
    bob.watchRoom(w.group);
    await vi.waitFor(() => expect(shown(bob, w.group, 1)?.text).toBe('shipped it'));
    await vi.waitFor(() => expect(alice.connection.isReady && bob.connection.isReady).toBe(true));

    const reacted = alice.react(w.group, 1, '🎉', true);
    expect(shown(alice, w.group, 1)?.reactions).toEqual([{ emoji: '🎉', count: 1, userIds: [w.alice.user.id] }]);
    await reacted;
    await vi.waitFor(() => expect(shown(bob, w.group, 1)?.reactions).toEqual([{ emoji: '🎉', count: 1, userIds: [w.alice.user.id] }]));
    expect(w.broker.frames('SEND', `/app/rooms/${w.group}/messages/1/react`).map((f) => JSON.parse(f.body) as unknown)).toEqual([{ emoji: '🎉', add: true }]);

    const first = w.broker.messages(w.group)[0]!;
    w.broker.react(w.group, 1, w.carol.user, '🎉', true);
    await vi.waitFor(() => expect(shown(bob, w.group, 1)?.reactions[0]?.count).toBe(2));
    w.broker.fanOutChange(w.group, first, 'reacted');
    w.broker.post(w.group, w.carol.user, 'after');
    await vi.waitFor(() => expect(shown(bob, w.group, 2)?.text).toBe('after'));
    expect(shown(bob, w.group, 1)?.reactions).toEqual([{ emoji: '🎉', count: 2, userIds: [w.alice.user.id, w.carol.user.id] }]);

    // Taking it back.
    await alice.react(w.group, 1, '🎉', false);
    await vi.waitFor(() => expect(shown(bob, w.group, 1)?.reactions).toEqual([{ emoji: '🎉', count: 1, userIds: [w.carol.user.id] }]));
    expect(shown(alice, w.group, 1)?.reactions).toEqual([{ emoji: '🎉', count: 1, userIds: [w.carol.user.id] }]);
  });

  it('a refused reaction is undone on screen and rejects with the code', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'hi');
    const alice = w.connect(w.alice);
    alice.watchRoom(w.group);
    await vi.waitFor(() => expect(shown(alice, w.group, 1)?.text).toBe('hi'));
    const refused = alice.react(w.group, 1, 'abc', true);
    expect(shown(alice, w.group, 1)?.reactions).toHaveLength(1);
    const code = await refused.then(
      () => 'ok',
      (e: unknown) => (e instanceof MessageActionError ? e.code : String(e)),
    );
    expect(code).toBe('invalid_emoji');
    expect(shown(alice, w.group, 1)?.reactions).toEqual([]);
  });

  it('a muted room counts its messages but raises no toast, unless one mentions the user', async () => {
    const w = world();
    w.broker.mute(w.group, w.bob.user);
    const bob = w.connect(w.bob);
    await vi.waitFor(() => expect(bob.rooms.get(w.group)?.muted).toBe(true));
    await vi.waitFor(() => expect(bob.connection.isReady).toBe(true));
    w.broker.post(w.group, w.alice.user, 'quiet one');
    w.broker.post(w.group, w.carol.user, 'quiet two');
    await vi.waitFor(() => expect(bob.rooms.get(w.group)?.unread).toBe(2));
    expect(bob.toasts.getSnapshot()).toEqual([]);

    w.broker.post(w.group, w.alice.user, '@bob you are needed');
    await vi.waitFor(() => expect(bob.rooms.get(w.group)?.unread).toBe(3));
    expect(bob.toasts.getSnapshot()).toHaveLength(1);
    expect(bob.toasts.getSnapshot()[0]).toMatchObject({ mention: true, text: '@bob you are needed' });
  });

  it('a mention of a user whose room is not on screen: a toast marked mention, unreadMentions counted, cleared by reading', async () => {
    const w = world();
    const bob = w.connect(w.bob);
    await vi.waitFor(() => expect(bob.rooms.get(w.group)).toBeDefined());
    await vi.waitFor(() => expect(bob.connection.isReady).toBe(true));
    const posted = w.broker.post(w.group, w.alice.user, 'ping @bob, and @nobody');
    expect(posted.mentions).toEqual([w.bob.user.id]);
    w.broker.post(w.group, w.alice.user, 'no mention here');
    await vi.waitFor(() => expect(bob.rooms.get(w.group)?.unread).toBe(2));
    expect(bob.rooms.get(w.group)?.unreadMentions).toBe(1);
    expect(bob.toasts.getSnapshot()).toHaveLength(1);
    // The toast stands for the latest message, which mentions nobody; the first one did.
    expect(bob.toasts.getSnapshot()[0]?.mention).toBe(false);

    w.broker.post(w.group, w.carol.user, '@bob look');
    await vi.waitFor(() => expect(bob.rooms.get(w.group)?.unreadMentions).toBe(2));
    expect(bob.toasts.getSnapshot()[0]).toMatchObject({ mention: true, text: '@bob look' });

    bob.watchRoom(w.group);
    await vi.waitFor(() => expect(bob.rooms.get(w.group)).toMatchObject({ unread: 0, unreadMentions: 0 }));
    // The server agrees after a reload.
    await vi.waitFor(() => expect(w.broker.httpLog.some((l) => l.startsWith(`POST /api/rooms/${w.group}/read 3`))).toBe(true));
    await bob.refreshRooms();
    expect(bob.rooms.get(w.group)?.unreadMentions).toBe(0);
  });

  it('useRoom gives reply and react', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'question');
    let room: ReturnType<typeof useRoom> | undefined;
    function View() {
      room = useRoom(w.group);
      return (
        <ol>
          {room.messages.map((m) => (
            <li key={m.key}>{`${m.replyTo ? `[re ${m.replyTo.sender.displayName}] ` : ''}${m.text}${m.reactions.map((r) => ` ${r.emoji}${r.count}`).join('')}`}</li>
          ))}
        </ol>
      );
    }
    render(
      <SotongProvider {...optionsFor(w.broker, w.alice.user, w.alice.token)}>
        <View />
      </SotongProvider>,
    );
    await screen.findByText('question');
    act(() => {
      room!.reply('answer', 1);
    });
    await screen.findByText('[re Bob] answer');
    await act(() => room!.react(1, '👍', true));
    await screen.findByText('question 👍1');
    const stored: Message | undefined = w.broker.messages(w.group)[1];
    expect(stored?.replyTo?.seq).toBe(1);
  });
});

/** A stand-in `XMLHttpRequest`: records the request, and the test drives progress and the answer. */
class FakeXhr {
  static last: FakeXhr | undefined;
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown;
  status = 0;
  responseText = '';
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe('attachment calls', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('uploadAttachment posts the bytes with the token and the name, reports progress, and resolves to the attachment', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    const file = new Blob(['%PDF-1.7 …']);
    const progress: Array<[number, number]> = [];
    const upload = uploadAttachment(3, file, 'the plan (v2).pdf', { token: () => 'tok', onProgress: (sent, total) => progress.push([sent, total]) });
    await vi.waitFor(() => expect(FakeXhr.last?.body).toBe(file));
    const xhr = FakeXhr.last!;
    expect([xhr.method, xhr.url, xhr.headers.Authorization]).toEqual(['POST', '/api/rooms/3/attachments?name=the%20plan%20(v2).pdf', 'Bearer tok']);
    xhr.upload.onprogress?.({ loaded: 5, total: 10, lengthComputable: true });
    xhr.answer(201, { id: 41, name: 'the plan (v2).pdf', contentType: 'application/pdf', size: 10 });
    await expect(upload).resolves.toMatchObject({ id: 41, contentType: 'application/pdf' });
    expect(progress).toEqual([[5, 10]]);
  });

  it('uploadAttachment rejects with the server code and message, and with AbortError when aborted', async () => {
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    const refused = uploadAttachment(3, new Blob(['x']), 'big.bin', { token: 'tok' });
    await vi.waitFor(() => expect(FakeXhr.last?.url).toContain('big.bin'));
    FakeXhr.last!.answer(413, { error: 'too_large', message: 'the file is over 25 MB' });
    await expect(refused).rejects.toEqual(new SotongHttpError(413, 'too_large', 'the file is over 25 MB'));
    expect(((await refused.catch((e: unknown) => e)) as SotongHttpError).code).toBe('too_large');

    const controller = new AbortController();
    const cancelled = uploadAttachment(3, new Blob(['x']), 'a.txt', { token: 'tok', signal: controller.signal });
    await vi.waitFor(() => expect(FakeXhr.last?.url).toContain('a.txt'));
    controller.abort();
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('fetchAttachment sends the bearer token in a header (not the URL) and gives a Blob; errors carry the code', async () => {
    const calls: Array<[string, RequestInit | undefined]> = [];
    const fakeFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      calls.push([String(input), init]);
      return String(input).endsWith('/7')
        ? new Response(JSON.stringify({ error: 'forbidden', message: 'not a member' }), { status: 403 })
        : new Response('png bytes', { status: 200, headers: { 'Content-Type': 'image/png' } });
    }) as typeof fetch;
    const blob = await fetchAttachment(41, { token: 'tok', thumbnail: true, fetch: fakeFetch });
    expect(await blob.text()).toBe('png bytes');
    expect(calls[0]![0]).toBe('/api/attachments/41/thumbnail');
    expect(new Headers(calls[0]![1]?.headers).get('Authorization')).toBe('Bearer tok');
    await expect(fetchAttachment(7, { token: 'tok', fetch: fakeFetch, baseUrl: 'http://x' }).catch((e: unknown) => e)).resolves.toMatchObject({ status: 403, code: 'forbidden' });
    // The failing call's URL: no thumbnail suffix, and no token anywhere in it.
    expect(calls[1]![0]).toBe('http://x/api/attachments/7');
  });
});
