//! A room counts as seen only while the page is visible and focused. The page's visibility and
//! focus are emulated by an init script (`document.visibilityState`, `hidden`, `hasFocus`, with
//! the events a browser fires), and `Notification` is wrapped to record what the app raises
//! (the permission granted through the context): while Alice is away, Bob's message in the open
//! room stays unread on the server, the tab title counts it and a desktop notification says who
//! wrote what; only when she is back is it read, with the "New messages" divider above it.
import type { Page } from '@playwright/test';
import { clusterMode } from './server';
import { emulatePage } from './pageEmulation';
import { apiAs, expect, messagesWithText, openDirect, send, signUp, test, type Person } from './fixtures';

/** Grants notifications, installs the emulation and reloads the signed-in app under it. */
async function withEmulatedPage(person: Person, origin: string): Promise<Page> {
  const { page } = person;
  await page.context().grantPermissions(['notifications'], { origin });
  await page.context().addInitScript(emulatePage);
  await page.reload();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  expect(await page.evaluate(() => Notification.permission)).toBe('granted');
  return page;
}

interface RoomSummary {
  id: number;
  name: string;
  unread: number;
}

async function unreadOnServer(person: Person, roomName: string): Promise<number | undefined> {
  const rooms = await apiAs<RoomSummary[]>(person, 'GET', '/api/rooms');
  return rooms.find((r) => r.name === roomName)?.unread;
}

test('away from the page: unread, counted in the title, notified; read with a divider on return', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  if (clusterMode) await expect.poll(() => server.connectionsPerNode()).toEqual([1, 1]);
  await openDirect(bob, alice);
  await send(bob, 'before');
  const page = await withEmulatedPage(alice, server.url);
  await openDirect(alice, bob);
  await expect(messagesWithText(alice, bob.displayName, 'before')).toHaveCount(1);
  await expect(page).toHaveTitle('sotong');
  await expect.poll(() => unreadOnServer(alice, bob.displayName)).toBe(0);

  await page.evaluate(() => window.setAway(true));
  await send(bob, 'are you there?');
  await expect(page).toHaveTitle('(1) sotong');
  await expect.poll(() => page.evaluate(() => window.raisedNotifications)).toEqual([{ title: bob.displayName, body: 'are you there?' }]);
  const bobLink = page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${bob.displayName}`) });
  await expect(bobLink).toContainText('1 unread');
  // Still unread on the server a while later: nothing read it behind Alice's back.
  await expect(messagesWithText(alice, bob.displayName, 'are you there?')).toHaveCount(1);
  expect(await unreadOnServer(alice, bob.displayName)).toBe(1);
  await expect(page.getByRole('separator', { name: 'New messages' })).toHaveCount(1);

  await page.evaluate(() => window.setAway(false));
  await expect.poll(() => unreadOnServer(alice, bob.displayName)).toBe(0);
  await expect(page).toHaveTitle('sotong');
  await expect(bobLink).not.toContainText('unread');
  const log = page.getByRole('log', { name: bob.displayName });
  const divider = log.getByRole('separator', { name: 'New messages' });
  await expect(divider).toBeVisible();
  // Right above the message that came while she was away, and after the one she had read.
  await expect(log.locator('.new-messages + .message')).toContainText('are you there?');
  await expect(log.locator('.message:has(+ .new-messages)')).toContainText('before');
  await expect(messagesWithText(alice, bob.displayName, 'are you there?')).toHaveCount(1);

  await send(alice, 'here now');
  await expect(divider).toHaveCount(0);
  await expect(messagesWithText(bob, alice.displayName, 'here now')).toHaveCount(1);
});

test('a desktop notification for another room opens it when clicked; mentions say so', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  await openDirect(carol, alice);
  const page = await withEmulatedPage(alice, server.url);
  await openDirect(alice, bob);

  await page.evaluate(() => window.setAway(true));
  await send(carol, `hey @${alice.username} look`);
  await expect.poll(() => page.evaluate(() => window.raisedNotifications)).toEqual([{ title: `${carol.displayName} mentioned you`, body: `hey @${alice.username} look` }]);
  await expect(page).toHaveTitle('(1) sotong');

  await page.evaluate(() => {
    window.setAway(false);
    window.notificationObjects[0]?.onclick?.(new Event('click'));
  });
  await expect(page.getByRole('log', { name: carol.displayName })).toBeVisible();
  await expect(messagesWithText(alice, carol.displayName, `hey @${alice.username} look`)).toHaveCount(1);
  await expect(page).toHaveTitle('sotong');
  await expect.poll(() => unreadOnServer(alice, carol.displayName)).toBe(0);
});
