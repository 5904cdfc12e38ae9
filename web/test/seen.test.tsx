//! Read receipts in the app, over the real realtime layer and the fake broker: "Seen" under the
//! last own message the other member of a direct room has read, a group's unread numbers going
//! down as members read and the "Seen by" dialog, and nothing before the marks are known.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { roomPath } from '../src/app/router';
import { optionsFor } from '../packages/react/test/helpers';
import { messageRow, renderShell, world } from './harness';

describe('seen by in the app', () => {
  it('shows "Seen" under the last own message the other member has read, live', async () => {
    const w = world({ groupName: 'Trio' });
    w.broker.post(w.direct, w.alice.user, 'first');
    w.broker.post(w.direct, w.alice.user, 'second');
    renderShell(w, roomPath(w.direct));
    const log = await screen.findByRole('log', { name: 'Bob' });
    await within(log).findByText('second');
    expect(within(log).queryByText('Seen')).toBeNull();
    const bob = optionsFor(w.broker, w.bob.user, w.bob.token).api;
    await act(() => bob.markRead(w.direct, 1));
    await waitFor(() => expect(within(messageRow(log, 'first')).getByText('Seen')).toBeTruthy());
    await act(() => bob.markRead(w.direct, 2));
    await waitFor(() => expect(within(messageRow(log, 'second')).getByText('Seen')).toBeTruthy());
    expect(within(log).getAllByText('Seen')).toHaveLength(1);
  });

  it("counts a group's unread members down and says who has read", async () => {
    const w = world({ groupName: 'Trio' });
    w.broker.post(w.group, w.alice.user, 'hi all');
    renderShell(w, roomPath(w.group));
    const log = await screen.findByRole('log', { name: 'Trio' });
    const button = await within(log).findByRole('button', { name: '2 unread' });
    expect(button.textContent).toBe('2');
    await act(() => optionsFor(w.broker, w.bob.user, w.bob.token).api.markRead(w.group, 1));
    fireEvent.click(await within(log).findByRole('button', { name: '1 unread' }));
    const dialog = await screen.findByRole('dialog', { name: 'Seen by' });
    expect(within(dialog).getByRole('list', { name: 'Read' }).textContent).toContain('Bob');
    expect(within(dialog).getByRole('list', { name: 'Not read yet' }).textContent).toContain('Carol');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    await act(() => optionsFor(w.broker, w.carol.user, w.carol.token).api.markRead(w.group, 1));
    await waitFor(() => expect(within(log).queryByRole('button', { name: /unread$/ })).toBeNull());
  });
});
