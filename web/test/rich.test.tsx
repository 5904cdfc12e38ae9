//! Rich messages in the app, over the real realtime layer and the fake broker: replying (the
//! reply bar, the quote, the jump to an original that has to be paged in), reacting (the
//! picker, chips that name who and toggle), suggestions while typing `@` and `:`, the `@`
//! marker and mention toasts, formatting in the log, and attachments (upload progress, the
//! server's refusal, file cards, thumbnails fetched with the token).
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { roomPath } from '../src/app/router';
import { Composer } from '../src/features/chat/Composer';
import { messageRow, renderShell, world } from './harness';

async function menuItem(log: HTMLElement, text: string, item: string) {
  fireEvent.click(within(messageRow(log, text)).getByRole('button', { name: 'Message actions' }));
  const menu = await screen.findByRole('menu', { name: 'Message actions' });
  fireEvent.click(within(menu).getByRole('menuitem', { name: item }));
}

describe('replies in the app', () => {
  it('Reply shows the reply bar, sends with replyTo, and the reply quotes its original (deleted later: "Message deleted")', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'who brings the tent?');
    renderShell(w, roomPath(w.group));
    const log = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(log).findByText('who brings the tent?');

    await menuItem(log, 'who brings the tent?', 'Reply');
    expect(screen.getByText('Replying to')).toHaveTextContent('Replying to Bob');
    const box = screen.getByRole('textbox', { name: 'Message' });
    await waitFor(() => expect(document.activeElement).toBe(box));
    fireEvent.change(box, { target: { value: 'I do' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(screen.queryByText('Replying to')).toBeNull();

    await waitFor(() => expect(w.broker.messages(w.group)[1]?.replyTo?.seq).toBe(1));
    const quote = await within(messageRow(log, 'I do')).findByRole('button', { name: /^In reply to Bob/ });
    expect(quote).toHaveTextContent('who brings the tent?');

    w.broker.change(w.group, 1, w.bob.user, null);
    await waitFor(() => expect(quote).toHaveTextContent('Message deleted'));
  });

  it('Cancel reply clears the bar', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'ping');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('ping');
    await menuItem(log, 'ping', 'Reply');
    fireEvent.click(screen.getByRole('button', { name: 'Cancel reply' }));
    expect(screen.queryByText('Replying to')).toBeNull();
  });

  it('clicking the quote of an original not held loads older pages until it is, then highlights it', async () => {
    const w = world();
    w.broker.post(w.direct, w.bob.user, 'the very first');
    for (let i = 2; i <= 120; i++) w.broker.postUnheard(w.direct, w.bob.user, `filler ${i}`);
    w.broker.post(w.direct, w.bob.user, 'about that first one', null, 1);
    // A log taller than its viewport (jsdom lays nothing out): no page loads to fill the screen.
    const scrollHeight = vi.spyOn(HTMLElement.prototype, 'scrollHeight', 'get').mockReturnValue(10_000);
    const clientHeight = vi.spyOn(HTMLElement.prototype, 'clientHeight', 'get').mockReturnValue(600);
    onTestFinished(() => {
      scrollHeight.mockRestore();
      clientHeight.mockRestore();
    });
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    const quote = await within(log).findByRole('button', { name: /^In reply to Bob/ });
    expect(quote).toHaveTextContent('the very first');
    expect(within(log).queryByText('the very first', { selector: '.text' })).toBeNull();

    fireEvent.click(quote);
    const original = await within(log).findByText('the very first', { selector: '.text' }, { timeout: 5_000 });
    await waitFor(() => expect(original.closest('.message')).toHaveClass('highlighted'));
    expect(w.broker.httpLog.filter((l) => l.includes('/messages?before=')).length).toBeGreaterThanOrEqual(3);
  });
});

describe('reactions in the app', () => {
  it('React opens the picker; a chip counts, names who reacted, is pressed when mine, and toggles', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'we leave at 8');
    w.broker.react(w.group, 1, w.carol.user, '🎉', true);
    renderShell(w, roomPath(w.group));
    const log = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(log).findByText('we leave at 8');
    const party = await within(messageRow(log, 'we leave at 8')).findByRole('button', { name: '🎉 1: Carol' });
    expect(party).toHaveAttribute('aria-pressed', 'false');

    await menuItem(log, 'we leave at 8', 'React');
    const picker = screen.getByRole('dialog', { name: 'Add reaction' });
    fireEvent.click(within(picker).getByRole('button', { name: 'thumbsup' }));
    expect(screen.queryByRole('dialog', { name: 'Add reaction' })).toBeNull();
    const thumbs = await within(messageRow(log, 'we leave at 8')).findByRole('button', { name: '👍 1: You' });
    expect(thumbs).toHaveAttribute('aria-pressed', 'true');
    await waitFor(() => expect(w.broker.messages(w.group)[0]?.reactions).toEqual([
      { emoji: '🎉', count: 1, userIds: [w.carol.user.id] },
      { emoji: '👍', count: 1, userIds: [w.alice.user.id] },
    ]));

    fireEvent.click(party);
    await within(messageRow(log, 'we leave at 8')).findByRole('button', { name: '🎉 2: Carol, You' });
    fireEvent.click(within(messageRow(log, 'we leave at 8')).getByRole('button', { name: '👍 1: You' }));
    await waitFor(() => expect(within(messageRow(log, 'we leave at 8')).queryByRole('button', { name: /^👍/ })).toBeNull());
    // The picker remembers what was used.
    await menuItem(log, 'we leave at 8', 'React');
    expect(within(screen.getByRole('dialog', { name: 'Add reaction' })).getAllByRole('button')[0]).toHaveAccessibleName('thumbsup');
    fireEvent.keyDown(screen.getByRole('dialog', { name: 'Add reaction' }), { key: 'Escape' });
    expect(screen.queryByRole('dialog', { name: 'Add reaction' })).toBeNull();
  });
});

describe('suggestions in the composer', () => {
  const members = [
    { id: 1, username: 'alice', displayName: 'Alice' },
    { id: 2, username: 'bob', displayName: 'Bob Marley' },
    { id: 3, username: 'bea', displayName: 'Beatrix' },
  ];

  it('@ and letters lists members but the viewer; arrows and Enter insert @username', () => {
    const onSend = vi.fn();
    render(<Composer onSend={onSend} members={members} me={members[0]} />);
    const box = screen.getByRole('textbox', { name: 'Message' });
    fireEvent.change(box, { target: { value: 'hi @b' } });
    const list = screen.getByRole('listbox', { name: 'Mention suggestions' });
    expect(within(list).getAllByRole('option').map((o) => o.textContent)).toEqual(['Bob Marley@bob', 'Beatrix@bea']);
    expect(within(list).getAllByRole('option')[0]).toHaveAttribute('aria-selected', 'true');
    fireEvent.keyDown(box, { key: 'ArrowDown' });
    expect(within(list).getAllByRole('option')[1]).toHaveAttribute('aria-selected', 'true');
    expect(box).toHaveAttribute('aria-activedescendant', within(list).getAllByRole('option')[1]!.id);
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(box).toHaveValue('hi @bea ');
    expect(screen.queryByRole('listbox')).toBeNull();
    expect(onSend).not.toHaveBeenCalled();

    fireEvent.change(box, { target: { value: 'hi @bea and @al' } });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.change(box, { target: { value: 'mail me at x@bo' } });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.change(box, { target: { value: '@ma' } });
    fireEvent.keyDown(box, { key: 'Tab' });
    expect(box).toHaveValue('@bob ');
  });

  it(': and letters lists emoji; Enter inserts it; Escape closes the list', () => {
    render(<Composer onSend={vi.fn()} />);
    const box = screen.getByRole('textbox', { name: 'Message' });
    fireEvent.change(box, { target: { value: 'great :tad' } });
    const list = screen.getByRole('listbox', { name: 'Emoji suggestions' });
    expect(within(list).getAllByRole('option')[0]).toHaveTextContent('🎉:tada:');
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(box).toHaveValue('great 🎉');
    fireEvent.change(box, { target: { value: 'at 10:30 :fi' } });
    expect(screen.getByRole('listbox', { name: 'Emoji suggestions' })).toBeInTheDocument();
    fireEvent.keyDown(box, { key: 'Escape' });
    expect(screen.queryByRole('listbox')).toBeNull();
  });
});

describe('mentions and formatting in the app', () => {
  it('a mention in another room shows @ beside its unread count ("mentioned") and a toast that says so', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await screen.findByRole('log', { name: 'Bob' });
    await waitFor(() => expect(w.broker.connectionsOf('alice')).toBe(1));
    await waitFor(() => expect(w.broker.subscriptionsOf('alice')).toContain(`/topic/rooms/${w.direct}`));
    w.broker.post(w.group, w.carol.user, 'what do you think, @alice?');
    const rooms = screen.getByRole('navigation', { name: 'Rooms' });
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Weekend trip/ })).toHaveAccessibleName(/mentioned\s*1 unread/));
    const toasts = screen.getByRole('status', { name: 'Notifications' });
    expect(within(toasts).getByText('mentioned you', { exact: false })).toBeTruthy();
    w.broker.post(w.group, w.carol.user, 'no mention');
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Weekend trip/ })).toHaveAccessibleName(/mentioned\s*2 unread/));
  });

  it('formats messages: bold, links with rel, HTML shown as text, the own mention highlighted', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, '**bold** see https://example.org/x. <b>not bold</b> @alice');
    renderShell(w, roomPath(w.group));
    const log = await screen.findByRole('log', { name: 'Weekend trip' });
    const strong = await within(log).findByText('bold', { selector: 'strong' });
    const bubble = strong.closest('.text')!;
    expect(within(bubble as HTMLElement).getByRole('link', { name: 'https://example.org/x' })).toHaveAttribute('rel', 'noopener noreferrer');
    expect(bubble.querySelector('b')).toBeNull();
    expect(bubble.textContent).toContain('<b>not bold</b>');
    expect(within(bubble as HTMLElement).getByText('@alice')).toHaveClass('mention-me');
  });
});

/** A stand-in `XMLHttpRequest` the test answers. */
class FakeXhr {
  static all: FakeXhr[] = [];
  url = '';
  headers: Record<string, string> = {};
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
  status = 0;
  responseText = '';
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  aborted = false;
  constructor() {
    FakeXhr.all.push(this);
  }
  open(_method: string, url: string) {
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send() {}
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe('attachments in the app', () => {
  const fetched: string[] = [];
  beforeEach(() => {
    FakeXhr.all = [];
    fetched.length = 0;
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        fetched.push(`${String(input)} ${new Headers(init?.headers).get('Authorization') ?? ''}`);
        return new Response('bytes', { status: 200 });
      }),
    );
    URL.createObjectURL = vi.fn(() => 'blob:fake');
    URL.revokeObjectURL = vi.fn();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('an attached file shows its progress, goes with the message, and shows as a download card; a refused one shows the server text', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await waitFor(() => expect(w.broker.connectionsOf('alice')).toBe(1));
    expect(screen.getByRole('button', { name: 'Attach file' })).toBeTruthy();
    const input = screen.getByTestId('attach-input');
    const pdf = new File(['%PDF-1.7'], 'plan.pdf', { type: 'application/pdf' });
    const huge = new File(['x'], 'huge.iso');
    fireEvent.change(input, { target: { files: [pdf, huge] } });

    await waitFor(() => expect(FakeXhr.all).toHaveLength(2));
    const [pdfUpload, hugeUpload] = FakeXhr.all as [FakeXhr, FakeXhr];
    expect(pdfUpload.url).toBe(`/api/rooms/${w.direct}/attachments?name=plan.pdf`);
    expect(pdfUpload.headers.Authorization).toBe(`Bearer ${w.alice.token}`);
    const bar = screen.getByRole('progressbar', { name: 'plan.pdf' });
    act(() => pdfUpload.upload.onprogress?.({ loaded: 4, total: 8, lengthComputable: true }));
    expect(bar).toHaveAttribute('value', '50');
    expect(screen.getByRole('button', { name: 'Send' })).toBeDisabled();

    act(() => hugeUpload.answer(413, { error: 'too_large', message: 'the file is over the 25 MB limit' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('huge.iso: the file is over the 25 MB limit');
    const attachment = w.broker.addUpload(w.direct, w.alice.user, 'plan.pdf', 'application/pdf', 1_245_184);
    act(() => pdfUpload.answer(201, attachment));
    fireEvent.click(screen.getByRole('button', { name: 'Remove huge.iso' }));
    expect(screen.queryByRole('alert')).toBeNull();

    const send = screen.getByRole('button', { name: 'Send' });
    await waitFor(() => expect(send).toBeEnabled());
    fireEvent.click(send);
    const card = await within(log).findByRole('group', { name: 'plan.pdf' });
    expect(card).toHaveTextContent('application/pdf · 1.2 MB');
    expect(screen.queryByRole('progressbar')).toBeNull();
    expect(w.broker.frames('SEND', `/app/rooms/${w.direct}`).map((f) => JSON.parse(f.body) as unknown)).toEqual([{ text: '', attachments: [attachment.id] }]);

    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    fireEvent.click(within(card).getByRole('button', { name: 'Download plan.pdf' }));
    await waitFor(() => expect(click).toHaveBeenCalledTimes(1));
    const saved = click.mock.contexts[0] as HTMLAnchorElement;
    expect([saved.download, saved.href]).toEqual(['plan.pdf', 'blob:fake']);
    click.mockRestore();
    await waitFor(() => expect(fetched).toContain(`/api/attachments/${attachment.id} Bearer ${w.alice.token}`));
  });

  it('files dropped on the chat join the files to send', async () => {
    const w = world();
    renderShell(w, roomPath(w.direct));
    await screen.findByRole('log', { name: 'Bob' });
    const chat = screen.getByRole('region', { name: 'Chat with Bob' });
    const photo = new File(['png'], 'dropped.png', { type: 'image/png' });
    fireEvent.dragOver(chat, { dataTransfer: { types: ['Files'], files: [photo], dropEffect: 'none' } });
    expect(chat).toHaveClass('dragging');
    fireEvent.drop(chat, { dataTransfer: { types: ['Files'], files: [photo] } });
    expect(chat).not.toHaveClass('dragging');
    expect(await screen.findByRole('progressbar', { name: 'dropped.png' })).toBeTruthy();
    await waitFor(() => expect(FakeXhr.all.map((x) => x.url)).toEqual([`/api/rooms/${w.direct}/attachments?name=dropped.png`]));
    // Dragging text (not files) is left to the browser.
    fireEvent.dragOver(chat, { dataTransfer: { types: ['text/plain'], files: [] } });
    expect(chat).not.toHaveClass('dragging');
  });

  it('an image shows as a thumbnail fetched with the token, opens full size in a dialog named after it, Escape closes', async () => {
    const w = world();
    const image = w.broker.addUpload(w.direct, w.bob.user, 'cat.png', 'image/png', 2048, { width: 640, height: 480 });
    w.broker.post(w.direct, w.bob.user, 'look', null, undefined, [image.id]);
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    const thumb = await within(log).findByRole('button', { name: 'Open image cat.png' });
    await waitFor(() => expect(within(thumb).getByRole('img', { name: 'cat.png' })).toHaveAttribute('src', 'blob:fake'));
    expect(fetched).toContain(`/api/attachments/${image.id}/thumbnail Bearer ${w.alice.token}`);

    fireEvent.click(thumb);
    const dialog = screen.getByRole('dialog', { name: 'cat.png' });
    await waitFor(() => expect(within(dialog).getByRole('img', { name: 'cat.png' })).toBeTruthy());
    expect(fetched).toContain(`/api/attachments/${image.id} Bearer ${w.alice.token}`);
    fireEvent.keyDown(document, { key: 'Escape' });
    expect(screen.queryByRole('dialog', { name: 'cat.png' })).toBeNull();
    await waitFor(() => expect(URL.revokeObjectURL).toHaveBeenCalled());
  });
});
