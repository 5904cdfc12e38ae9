//! End-to-end against the real server: two or three people in separate browser contexts.
import { clusterMode } from './server';
import { createGroup, expect, logIn, messagesWithText, openDirect, openRoom, send, signUp, test, uniqueName } from './fixtures';

test('the motivating scenario: direct → group → back → send shows once on both screens', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  // One connection each; in a cluster, WebSockets alternate between the two nodes, so Alice
  // and Bob (and so every message between them) sit on different nodes.
  await expect.poll(() => server.connectionsPerNode()).toEqual(clusterMode ? [2, 1] : [3]);
  const group = `Trip ${uniqueName('g').slice(-5)}`;

  // Alice and Bob in their direct room.
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  await send(alice, 'hi bob');
  await expect(messagesWithText(bob, alice.displayName, 'hi bob')).toHaveCount(1);
  await send(bob, 'hi alice');
  await expect(messagesWithText(alice, bob.displayName, 'hi alice')).toHaveCount(1);

  // Alice opens a group room.
  await createGroup(alice, group, [bob, carol]);
  await send(alice, 'hello group');
  await expect(carol.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${group}`) })).toBeVisible();

  // Meanwhile Bob writes in the direct room: Alice gets a toast, and an unread badge.
  await send(bob, 'are you there?');
  const toast = alice.page.getByRole('status', { name: 'Notifications' });
  await expect(toast.getByText('are you there?')).toBeVisible();
  await expect(toast.getByText(bob.displayName)).toBeVisible();
  await expect(messagesWithText(alice, group, 'are you there?')).toHaveCount(0);
  const bobLink = alice.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${bob.displayName}`) });
  await expect(bobLink).toContainText('1');

  // Alice goes back to the direct room: the message that came meanwhile is in the history.
  await openRoom(alice, bob.displayName);
  await expect(messagesWithText(alice, bob.displayName, 'are you there?')).toHaveCount(1);
  await expect(bobLink).not.toContainText('unread');

  // And what she sends now shows exactly once, on her screen and on Bob's.
  await send(alice, 'yes, back now');
  await expect(messagesWithText(alice, bob.displayName, 'yes, back now')).toHaveCount(1);
  await expect(messagesWithText(bob, alice.displayName, 'yes, back now')).toHaveCount(1);
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message.mine').last()).toHaveClass(/\bsent\b/);

  // Settled: still once each (no late duplicate from a replay or a notification).
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message')).toHaveCount(4);
  for (const text of ['hi bob', 'hi alice', 'are you there?', 'yes, back now']) {
    await expect(messagesWithText(alice, bob.displayName, text)).toHaveCount(1);
    await expect(messagesWithText(bob, alice.displayName, text)).toHaveCount(1);
  }
});

test('a toast click opens the right room', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  await openDirect(bob, alice);
  await openDirect(carol, alice);
  const group = `Club ${uniqueName('g').slice(-5)}`;
  await createGroup(alice, group, [bob]);

  await send(bob, 'from bob');
  await send(carol, 'from carol');
  const toasts = alice.page.getByRole('status', { name: 'Notifications' });
  await expect(toasts.getByText('from bob')).toBeVisible();
  await expect(toasts.getByText('from carol')).toBeVisible();

  await toasts.getByText('from carol').click();
  const log = alice.page.getByRole('log', { name: carol.displayName });
  await expect(log).toBeVisible();
  await expect(messagesWithText(alice, carol.displayName, 'from carol')).toHaveCount(1);
  await expect(alice.page).toHaveURL(/\/rooms\/\d+$/);
  await expect(toasts.getByText('from carol')).toHaveCount(0);
  await expect(toasts.getByText('from bob')).toBeVisible();

  await toasts.getByText('from bob').click();
  await expect(messagesWithText(alice, bob.displayName, 'from bob')).toHaveCount(1);
});

test('a server restart mid-chat: nothing lost, nothing doubled', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  await send(alice, 'before 1');
  await send(bob, 'before 2');
  await expect(messagesWithText(alice, bob.displayName, 'before 2')).toHaveCount(1);
  await expect(messagesWithText(bob, alice.displayName, 'before 1')).toHaveCount(1);

  expect(await server.stop()).toBe(0);
  const status = alice.page.getByRole('status', { name: 'Connection status' });
  await expect(status).toHaveText(/Reconnecting…|Offline/);

  // Sent while the server is down: pending, then delivered once after the reconnect.
  await send(alice, 'during the outage');
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message.pending')).toHaveCount(1);

  await server.restart();
  await expect(status).toHaveText('Connected', { timeout: 30_000 });
  await expect(bob.page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected', { timeout: 30_000 });
  await expect(messagesWithText(bob, alice.displayName, 'during the outage')).toHaveCount(1);
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message.pending')).toHaveCount(0);

  await send(bob, 'after');
  await expect(messagesWithText(alice, bob.displayName, 'after')).toHaveCount(1);
  for (const person of [alice, bob]) {
    const other = person === alice ? bob : alice;
    await expect(person.page.getByRole('log', { name: other.displayName }).locator('.message')).toHaveCount(4);
    for (const text of ['before 1', 'before 2', 'during the outage', 'after']) {
      await expect(messagesWithText(person, other.displayName, text)).toHaveCount(1);
    }
  }
  // A reload (fresh state from the server) agrees.
  await alice.page.reload();
  await openRoom(alice, bob.displayName);
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message')).toHaveCount(4);
});

test("opening a room marks it read, and the same user's other device follows", async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const phone = await logIn(browser, server, alice);
  await openDirect(bob, alice);
  await send(bob, 'one');
  await send(bob, 'two');
  const badge = (person: typeof alice) =>
    person.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${bob.displayName}`) });
  await expect(badge(alice)).toContainText('2 unread');
  await expect(badge(phone)).toContainText('2 unread');

  await openRoom(alice, bob.displayName);
  await expect(messagesWithText(alice, bob.displayName, 'two')).toHaveCount(1);
  await expect(badge(alice)).not.toContainText('unread');
  await expect(badge(phone)).not.toContainText('unread');
});

test('Korean input: Enter while an IME composition is open does not send', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  const box = alice.page.getByRole('textbox', { name: 'Message' });
  await box.focus();
  // Drive Chromium's IME through the DevTools protocol, as a Korean keyboard would.
  const cdp = await alice.page.context().newCDPSession(alice.page);
  await cdp.send('Input.imeSetComposition', { text: '안녕하세요', selectionStart: 5, selectionEnd: 5 });
  await box.press('Enter');
  // Not sent: the text is still in the composer (a send clears it).
  await expect(box).toHaveValue(/^안녕하세요/);
  await box.fill('안녕하세요');
  await box.press('Enter');
  await expect(box).toHaveValue('');
  await expect(alice.page.getByRole('log', { name: bob.displayName }).locator('.message')).toHaveCount(1);
  await expect(messagesWithText(alice, bob.displayName, '안녕하세요')).toHaveCount(1);
});
