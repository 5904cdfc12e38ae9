//! End-to-end against the real server: read receipts. In a direct room Alice sees "Seen" appear
//! live under her message when Bob reads it (and move to her next one); in a group of three
//! the number beside a message goes 2 → 1 → hidden as the members read, and opens who has read
//! it; a room with many unread opens at the divider, and "Jump to latest" counts what came in
//! below while the reader is scrolled up.
import { apiAs, createGroup, expect, messageRow, openDirect, openRoom, send, signUp, test } from './fixtures';

test('seen by: "Seen" appears live under the message the other member read', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await send(alice, 'are you there?');
  const first = messageRow(alice, bob.displayName, 'are you there?');
  await expect(first.getByText('Sent')).toHaveCount(1);
  await expect(first.getByText('Seen', { exact: true })).toHaveCount(0);

  await openDirect(bob, alice);
  await expect(first.getByText('Seen', { exact: true })).toBeVisible();

  // Bob is looking: the next message is read at once, and "Seen" moves under it.
  await send(alice, 'lunch?');
  const second = messageRow(alice, bob.displayName, 'lunch?');
  await expect(second.getByText('Seen', { exact: true })).toBeVisible();
  await expect(first.getByText('Seen', { exact: true })).toHaveCount(0);
  await expect(alice.page.getByRole('log', { name: bob.displayName }).getByText('Seen', { exact: true })).toHaveCount(1);
});

test('seen by: a group of three shows 2, then 1, then nothing as members read', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  await createGroup(alice, 'Trio', [bob, carol]);
  await send(alice, 'hi all');
  const row = messageRow(alice, 'Trio', 'hi all');
  await expect(row.getByRole('button', { name: '2 unread' })).toHaveText('2');

  await openRoom(bob, 'Trio');
  await expect(row.getByRole('button', { name: '1 unread' })).toHaveText('1');
  await row.getByRole('button', { name: '1 unread' }).click();
  const dialog = alice.page.getByRole('dialog', { name: 'Seen by' });
  await expect(dialog.getByRole('list', { name: 'Read', exact: true })).toContainText(bob.displayName);
  await expect(dialog.getByRole('list', { name: 'Not read yet' })).toContainText(carol.displayName);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();

  // Bob sees Carol has not read it either (the numbers are for every member, not only the sender).
  await expect(messageRow(bob, 'Trio', 'hi all').getByRole('button', { name: '1 unread' })).toBeVisible();

  await openRoom(carol, 'Trio');
  await expect(row.getByRole('button', { name: /unread$/ })).toHaveCount(0);
  await expect(messageRow(bob, 'Trio', 'hi all').getByRole('button', { name: /unread$/ })).toHaveCount(0);
});

test('jump: a room with many unread opens at the divider, and "Jump to latest" counts new messages below', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(bob, alice);
  const room = await apiAs<{ id: number }>(bob, 'POST', '/api/rooms/direct', { username: alice.username });
  for (let i = 1; i <= 40; i++) await apiAs(bob, 'POST', `/api/rooms/${String(room.id)}/messages`, { text: `backlog ${String(i)}` });

  await openRoom(alice, bob.displayName);
  const log = alice.page.getByRole('log', { name: bob.displayName });
  await expect(log.getByRole('separator', { name: 'New messages' })).toBeInViewport();
  await expect(messageRow(alice, bob.displayName, 'backlog 1')).toBeInViewport();
  const jump = alice.page.getByRole('button', { name: /^Jump to latest/ });
  await expect(jump).toBeVisible();

  // Something new arrives while Alice reads above: the button counts it.
  await send(bob, 'are you reading?');
  await expect(jump).toHaveAccessibleName('Jump to latest · 1 new message');
  await expect(messageRow(alice, bob.displayName, 'are you reading?')).not.toBeInViewport();
  await jump.click();
  await expect(messageRow(alice, bob.displayName, 'are you reading?')).toBeInViewport();
  await expect(jump).toBeHidden();

  // Scrolling up by hand brings the button back.
  await log.evaluate((el) => {
    el.scrollTop = 0;
  });
  await expect(jump).toHaveAccessibleName('Jump to latest');
});
