//! The message store on its own: merge by seq, since-seq, older-page cursor, optimistic sends,
//! changes by rev.
import { describe, expect, it } from 'vitest';
import type { Message, User } from '../src/types';
import { MAX_REPLAY } from '../src/messageStore';
import { MessageStore } from '../src';

const bob: User = { id: 2, username: 'bob', displayName: 'Bob' };
const me: User = { id: 1, username: 'alice', displayName: 'Alice' };
const msg = (seq: number, clientMsgId: string | null = null, sender = bob): Message => ({
  id: 1000 + seq,
  roomId: 7,
  seq,
  sender,
  text: `m${seq}`,
  sentAt: new Date(Date.UTC(2025, 0, 1, 12, 0, seq)).toISOString(),
  clientMsgId,
});
const seqs = (store: MessageStore) => store.getSnapshot(7).messages.map((m) => m.seq);

describe('MessageStore', () => {
  it('merges pages, live events and replays by seq, in any order, without duplicates', () => {
    const store = new MessageStore();
    expect(store.insert(7, [msg(5), msg(6)]).map((m) => m.seq)).toEqual([5, 6]);
    expect(store.insert(7, [msg(1), msg(2), msg(3), msg(4), msg(5)]).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(store.insert(7, [msg(6), msg(7)]).map((m) => m.seq)).toEqual([7]);
    expect(seqs(store)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('resumes with since-seq at the top of the contiguous run, so a replay fills holes', () => {
    const store = new MessageStore();
    store.setKnownLatest(7, 40);
    expect(store.sinceSeq(7)).toBe(40);
    expect(store.olderCursor(7)).toBe(41);
    store.insert(7, [msg(30), msg(31), msg(32), msg(35)]);
    expect(store.sinceSeq(7)).toBe(32);
    expect(store.olderCursor(7)).toBe(30);
    store.insert(7, [msg(33), msg(34)]);
    expect(store.sinceSeq(7)).toBe(35);
  });

  it('drops a run too far behind instead of replaying it', () => {
    const store = new MessageStore();
    store.insert(7, [msg(1), msg(2)]);
    store.setKnownLatest(7, 2 + MAX_REPLAY + 1);
    expect(store.sinceSeq(7)).toBe(2 + MAX_REPLAY + 1);
    expect(store.count(7)).toBe(0);
  });

  it('knows whether older messages exist (seq starts at 1, no gaps)', () => {
    const store = new MessageStore();
    expect(store.getSnapshot(7).hasOlder).toBe(false);
    store.insert(7, [msg(3), msg(4)]);
    expect(store.getSnapshot(7).hasOlder).toBe(true);
    store.insert(7, [msg(1), msg(2)]);
    expect(store.getSnapshot(7).hasOlder).toBe(false);
  });

  it('turns a pending send into the stored message on the receipt, and the echo changes nothing', () => {
    const store = new MessageStore();
    store.addPending(7, { clientMsgId: 'c1', text: 'hi', sender: me, createdAt: new Date().toISOString() });
    expect(store.getSnapshot(7).messages.map((m) => [m.text, m.state])).toEqual([['hi', 'pending']]);
    store.confirm(7, 'c1', { id: 1001, seq: 1 });
    expect(store.getSnapshot(7).messages.map((m) => [m.text, m.state, m.seq])).toEqual([['hi', 'sent', 1]]);
    expect(store.insert(7, [{ ...msg(1, 'c1', me), text: 'hi' }])).toEqual([]);
    expect(store.getSnapshot(7).messages).toHaveLength(1);
  });

  it('drops the pending entry when the echo comes before the receipt', () => {
    const store = new MessageStore();
    store.addPending(7, { clientMsgId: 'c1', text: 'hi', sender: me, createdAt: new Date().toISOString() });
    store.insert(7, [{ ...msg(1, 'c1', me), text: 'hi' }]);
    store.confirm(7, 'c1', { id: 1001, seq: 1 });
    expect(store.getSnapshot(7).messages.map((m) => [m.text, m.state])).toEqual([['hi', 'sent']]);
  });

  it('keeps the snapshot object until something changes, and notifies once per tick', async () => {
    const store = new MessageStore();
    let calls = 0;
    store.subscribe(7, () => calls++);
    for (let i = 1; i <= 1000; i++) store.insert(7, [msg(i)]);
    const first = store.getSnapshot(7);
    expect(store.getSnapshot(7)).toBe(first);
    await Promise.resolve();
    expect(calls).toBe(1);
    expect(first.messages).toHaveLength(1000);
  });

  it('takes a copy of a message only if its rev is newer, whichever way it comes; a change to a message not held waits for it', () => {
    const store = new MessageStore();
    const edit = (seq: number, rev: number, text: string): Message => ({ ...msg(seq), text, editedAt: `2025-01-02T00:00:0${rev}.000Z`, rev });
    store.insert(7, [msg(1), msg(2)]);
    expect(store.applyChange(7, edit(1, 2, 'second edit'))).toBe(true);
    expect(store.applyChange(7, edit(1, 1, 'first edit'))).toBe(false);
    store.insert(7, [edit(1, 1, 'first edit')]);
    expect(store.getSnapshot(7).messages[0]).toMatchObject({ text: 'second edit', editedAt: '2025-01-02T00:00:02.000Z' });
    // The change of a message not held, then a history page answered before the change was made.
    expect(store.applyChange(7, { ...msg(3), text: '', deletedAt: '2025-01-02T00:00:03.000Z', rev: 3 })).toBe(false);
    store.insert(7, [msg(3)]);
    expect(store.getSnapshot(7).messages[2]).toMatchObject({ seq: 3, text: '', deleted: true });
    expect(store.maxRev(7)).toBe(3);
  });
});
