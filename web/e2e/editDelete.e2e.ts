//! End-to-end against the real server: Alice edits and deletes her message, Bob sees both live
//! and still sees the tombstone after a reload, and Bob can only reply and react to Alice's messages.
import { deleteMessage, editMessage, expect, messageRow, messagesWithText, openDirect, send, signUp, test } from './fixtures';

test('edit and delete: the other side sees "(edited)" then "Message deleted" live, and after a reload', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  await send(alice, 'lunch at 12?');
  await send(alice, 'bring the tickets');
  await send(bob, 'sure');
  await expect(messagesWithText(bob, alice.displayName, 'bring the tickets')).toHaveCount(1);
  await expect(messagesWithText(alice, bob.displayName, 'sure')).toHaveCount(1);

  // Edit and Delete only on one's own messages (others' offer Reply and React).
  await messageRow(bob, alice.displayName, 'lunch at 12?').getByRole('button', { name: 'Message actions' }).click();
  await expect(bob.page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem')).toHaveText(['Reply', 'React']);
  await bob.page.keyboard.press('Escape');
  await messageRow(bob, alice.displayName, 'sure').getByRole('button', { name: 'Message actions' }).click();
  await expect(bob.page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem')).toHaveText(['Reply', 'React', 'Edit', 'Delete']);
  await bob.page.keyboard.press('Escape');

  // Alice edits: both screens show the new text, marked "(edited)".
  await editMessage(alice, bob.displayName, 'lunch at 12?', 'lunch at 1?');
  for (const [person, room] of [
    [alice, bob.displayName],
    [bob, alice.displayName],
  ] as const) {
    const row = messageRow(person, room, 'lunch at 1?');
    await expect(row.getByText('(edited)')).toBeVisible();
    await expect(row.getByText('(edited)')).toHaveAttribute('title', /^Edited /);
    await expect(messagesWithText(person, room, 'lunch at 12?')).toHaveCount(0);
  }

  // Alice deletes: both screens show the tombstone in place of the text, the room list too.
  await deleteMessage(alice, bob.displayName, 'bring the tickets');
  for (const [person, room] of [
    [alice, bob.displayName],
    [bob, alice.displayName],
  ] as const) {
    const log = person.page.getByRole('log', { name: room });
    await expect(log.getByText('Message deleted')).toHaveCount(1);
    await expect(messagesWithText(person, room, 'bring the tickets')).toHaveCount(0);
    await expect(log.locator('.message')).toHaveCount(3);
  }

  // Bob reloads: the edit and the tombstone come back from the server, in order.
  await bob.page.reload();
  await expect(bob.page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  const log = bob.page.getByRole('log', { name: alice.displayName });
  await expect(log.locator('.bubble')).toHaveText(['lunch at 1? (edited)', 'Message deleted', 'sure']);
  // Every message but the tombstone has its menu.
  await expect(log.getByRole('button', { name: 'Message actions' })).toHaveCount(2);
});

test('edit and delete: the room list preview of a deleted last message reads "Message deleted"', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await send(alice, 'wrong chat, sorry');
  const bobLink = bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${alice.displayName}`) });
  await expect(bobLink).toContainText('wrong chat, sorry');
  await deleteMessage(alice, bob.displayName, 'wrong chat, sorry');
  await expect(bobLink).toContainText('Message deleted');
  await expect(bobLink).not.toContainText('wrong chat, sorry');
  await bob.page.reload();
  await expect(bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${alice.displayName}`) })).toContainText('Message deleted');
});
