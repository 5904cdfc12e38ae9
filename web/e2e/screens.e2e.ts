//! End-to-end checks of the screens themselves: rooms that are not yours, sign-up with a
//! display name, error wording, suggestions in the new-room dialogs, `@username` where a
//! display name could be copied, and layout (toasts, day labels, buttons) by bounding boxes.
import type { Locator, Page } from '@playwright/test';
import { createGroup, expect, openDirect, send, signUp, test, uniqueName, type Person } from './fixtures';
import type { TestServer } from './server';

type Box = { x: number; y: number; width: number; height: number };

/** Whether two boxes share any area (touching edges do not count). */
function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

async function box(locator: Locator): Promise<Box> {
  const found = await locator.boundingBox();
  if (!found) throw new Error(`no bounding box for ${String(locator)}`);
  return found;
}

/** The bearer token of the person's browser (the app keeps it in localStorage). */
async function tokenOf(page: Page): Promise<string> {
  const token = await page.evaluate(() => (JSON.parse(window.localStorage.getItem('sotong.session') ?? '{}') as { token?: string }).token);
  if (!token) throw new Error('not logged in');
  return token;
}

async function call<T>(server: TestServer, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${String(res.status)} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** The id of the room open in the person's browser (from the URL). */
function openRoomId(person: Person): number {
  const match = /\/rooms\/(\d+)$/.exec(new URL(person.page.url()).pathname);
  if (!match?.[1]) throw new Error(`no room open at ${person.page.url()}`);
  return Number(match[1]);
}

test("a room that is not yours, or none at all, says so with a way back and no composer", async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  await openDirect(alice, bob);
  const roomId = openRoomId(alice);

  await carol.page.goto(`/rooms/${String(roomId)}`);
  await expect(carol.page.getByRole('alert')).toContainText('You are not in this conversation');
  await expect(carol.page.getByRole('textbox', { name: 'Message' })).toHaveCount(0);
  await expect(carol.page.getByRole('log')).toHaveCount(0);

  await carol.page.goto('/rooms/999999');
  await expect(carol.page.getByRole('alert')).toContainText('Conversation not found');
  await expect(carol.page.getByRole('textbox', { name: 'Message' })).toHaveCount(0);
  // One way back, the same on a desktop and on a phone.
  for (const size of [{ width: 390, height: 844 }, { width: 1280, height: 800 }]) {
    await carol.page.setViewportSize(size);
    const backs = carol.page.getByRole('button', { name: /^Back/ });
    await expect(backs).toHaveCount(1);
    await expect(backs).toHaveText('Back to your chats');
    await expect(backs).toBeInViewport();
  }
  await carol.page.getByRole('button', { name: 'Back to your chats' }).click();
  await expect(carol.page).toHaveURL(/\/$/);
  await expect(carol.page.getByText('Pick a conversation')).toBeVisible();
});

test('sign-up takes a display name; a wrong password reads "Wrong username or password."', async ({ browser, server }) => {
  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  const username = uniqueName('alice');
  await page.goto('/');
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password' }).fill('short');
  await page.getByRole('textbox', { name: 'Display name' }).fill('Alice Liddell');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('alert')).toHaveText('Use a password of at least 8 characters.');

  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  await expect(page.locator('.me-name')).toHaveText('Alice Liddell');
  const me = await call<{ username: string; displayName: string }>(server, await tokenOf(page), 'GET', '/api/me');
  expect(me).toMatchObject({ username, displayName: 'Alice Liddell' });

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password' }).fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

  // Taken: worded, not the server's text.
  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('alert')).toHaveText('That username is already taken. Please pick another one.');
  await context.close();
});

test('both new-room dialogs suggest people with their @username and say when no one matches', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  const { page } = alice;

  await page.getByRole('button', { name: 'New direct message' }).click();
  const direct = page.getByRole('dialog', { name: 'New direct message' });
  await direct.getByRole('textbox', { name: 'Username' }).fill(bob.username.slice(0, -1));
  const directMatches = direct.getByRole('list', { name: 'Matching users' });
  await expect(directMatches.getByRole('button', { name: `${bob.displayName} @${bob.username}` })).toBeVisible();
  await direct.getByRole('textbox', { name: 'Username' }).fill('nobody_by_this_name');
  await expect(direct.getByText('No one matches “nobody_by_this_name”.')).toBeVisible();
  await expect(directMatches).toHaveCount(0);
  await direct.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(direct.getByRole('alert')).toHaveText('No user named “nobody_by_this_name”.');
  await direct.getByRole('button', { name: 'Cancel' }).click();

  await page.getByRole('button', { name: 'New group' }).click();
  const group = page.getByRole('dialog', { name: 'New group' });
  const members = group.getByRole('textbox', { name: 'Members' });
  await group.getByRole('textbox', { name: 'Group name' }).fill('Picked');
  await members.fill(`${bob.username}, ${carol.username.slice(0, -2)}`);
  await group.getByRole('list', { name: 'Matching users' }).getByRole('button', { name: `${carol.displayName} @${carol.username}` }).click();
  await expect(members).toHaveValue(`${bob.username}, ${carol.username}, `);
  await expect(members).toBeFocused();
  await members.pressSequentially('ghost_');
  await expect(group.getByText('No one matches “ghost_”.')).toBeVisible();
  await members.fill(`${bob.username}, ghost_x`);
  await group.getByRole('button', { name: 'Create' }).click();
  await expect(group.getByRole('alert')).toHaveText('No user named “ghost_x”.');
  await members.fill(`${bob.username}, ${carol.username}`);
  await group.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('log', { name: 'Picked' })).toBeVisible();
});

test('in a group, messages and toasts show the @username beside a copied display name', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  // Mallory signs up with Bob's display name.
  const mallory = await signUp(browser, server, 'mallory', undefined, bob.displayName);
  const groupName = `Lookalikes ${uniqueName('g').slice(-5)}`;
  await createGroup(alice, groupName, [bob, mallory]);
  await bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${groupName}`) }).click();
  // Who is typing, with the @username. Typed again until seen: the signal is not stored, and
  // Alice's SUBSCRIBE may still be on its way when the first one goes out.
  const bobBox = bob.page.getByRole('textbox', { name: 'Message' });
  await expect(async () => {
    await bobBox.pressSequentially('x');
    await expect(alice.page.locator('.typing')).toHaveText(`${bob.displayName} @${bob.username} is typing…`, { timeout: 3_500 });
  }).toPass({ timeout: 15_000 });
  await bobBox.fill('');
  await send(bob, 'the real bob');

  const log = alice.page.getByRole('log', { name: groupName });
  const message = log.locator('.message', { hasText: 'the real bob' });
  await expect(message.locator('.sender')).toHaveText(`${bob.displayName} @${bob.username}`);
  await expect(alice.page.locator('.chat-title p')).toContainText(`(@${bob.username})`);
  await expect(alice.page.locator('.chat-title p')).toContainText(`(@${mallory.username})`);

  // A toast from the group, while Alice is elsewhere.
  await alice.page.goBack();
  await expect(alice.page.getByRole('log')).toHaveCount(0);
  await bob.page.getByRole('textbox', { name: 'Message' }).fill('toast me');
  await bob.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  const toast = alice.page.getByRole('status', { name: 'Notifications' }).locator('.toast', { hasText: 'toast me' });
  await expect(toast).toContainText(`@${bob.username}`);
  await expect(toast).toContainText(`in ${groupName}`);
  // The room list's preview names the sender the same way.
  const groupLink = alice.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${groupName}`) });
  await expect(groupLink.locator('.room-preview')).toHaveText(`${bob.displayName} @${bob.username}: toast me`);
});

test('on a phone-sized screen a toast covers neither the Back button nor the chat header', async ({ browser, server }) => {
  const phone = { width: 390, height: 844 };
  const alice = await signUp(browser, server, 'alice', phone);
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  await openDirect(carol, alice);
  await openDirect(bob, alice);
  await alice.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${bob.displayName}`) }).click();
  await expect(alice.page.getByRole('log', { name: bob.displayName })).toBeVisible();

  await send(carol, 'a toast on the phone');
  const toast = alice.page.getByRole('status', { name: 'Notifications' }).locator('.toast', { hasText: 'a toast on the phone' });
  await expect(toast).toBeVisible();
  await alice.page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'));
  const toastBox = await box(toast);
  const back = alice.page.getByRole('button', { name: 'Back to rooms' });
  await expect(back).toBeVisible();
  expect(overlaps(toastBox, await box(back))).toBe(false);
  expect(overlaps(toastBox, await box(alice.page.locator('.chat-head')))).toBe(false);
  expect(overlaps(toastBox, await box(alice.page.getByRole('textbox', { name: 'Message' })))).toBe(false);
  // Still on screen.
  expect(toastBox.y + toastBox.height).toBeLessThanOrEqual(phone.height);
  // The Back button still works with the toast up.
  await back.click();
  await expect(alice.page.getByRole('navigation', { name: 'Rooms' })).toBeVisible();
});

test('the day label never covers message text, wherever the log is scrolled', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  const roomId = openRoomId(alice);
  const token = await tokenOf(bob.page);
  // Long lines: their bubbles span the middle of the log, where the label is.
  const filler = 'words that fill the whole width of a chat bubble, as people write them';
  for (let i = 1; i <= 40; i++) await call(server, token, 'POST', `/api/rooms/${String(roomId)}/messages`, { text: `line ${String(i)}: ${filler}` });
  const log = alice.page.getByRole('log', { name: bob.displayName });
  await expect(log.getByText(`line 40: ${filler}`, { exact: true })).toBeVisible();

  const positions = await log.evaluate((el) => el.scrollHeight - el.clientHeight);
  expect(positions).toBeGreaterThan(200);
  let checked = 0;
  for (let top = 0; top <= positions; top += 23) {
    // Each overlap test reads the layout of one scroll position, in the page.
    const covered = await log.evaluate((el, scrollTop) => {
      el.scrollTop = scrollTop;
      const area = el.getBoundingClientRect();
      const labels = Array.from(el.querySelectorAll('.day span')).map((s) => s.getBoundingClientRect());
      const texts = Array.from(el.querySelectorAll('.bubble, .sender:not(.sr-only)')).map((t) => t.getBoundingClientRect());
      const inView = (r: DOMRect) => r.bottom > area.top && r.top < area.bottom;
      const hit = (a: DOMRect, b: DOMRect) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      return labels.filter(inView).some((label) => texts.filter(inView).some((text) => hit(label, text)));
    }, top);
    expect(covered, `day label over text at scrollTop ${String(top)}`).toBe(false);
    checked++;
  }
  expect(checked).toBeGreaterThan(8);
});

test('at 1280 px the new-room buttons sit on one row, each label on one line', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const { page } = alice;
  // No web font is loaded: the labels use the system fallback, the widest case here.
  expect(await page.evaluate(() => Array.from(document.styleSheets).flatMap((sheet) => Array.from(sheet.cssRules)).filter((rule) => rule instanceof CSSFontFaceRule).length)).toBe(0);
  const direct = page.getByRole('button', { name: 'New direct message' });
  const group = page.getByRole('button', { name: 'New group' });
  const [directBox, groupBox] = [await box(direct), await box(group)];
  expect(Math.abs(directBox.y - groupBox.y)).toBeLessThan(1);
  // Both inside the sidebar, the second beside the first.
  const sidebar = await box(page.locator('.sidebar'));
  expect(groupBox.x).toBeGreaterThanOrEqual(directBox.x + directBox.width);
  expect(groupBox.x + groupBox.width).toBeLessThanOrEqual(sidebar.x + sidebar.width);
  for (const button of [direct, group]) {
    // The icon keeps its size (a squeezed row shrinks it first).
    expect((await box(button.locator('svg'))).width).toBeGreaterThanOrEqual(14);
    const label = button.locator('span');
    const { height, fontSize, scrollWidth, clientWidth } = await label.evaluate((el) => ({
      height: el.getBoundingClientRect().height,
      fontSize: parseFloat(getComputedStyle(el).fontSize),
      scrollWidth: el.scrollWidth,
      clientWidth: el.clientWidth,
    }));
    // One line is about 1.2 font sizes high (line-height: normal), two lines 2.3.
    expect(height).toBeLessThan(fontSize * 1.8);
    // Not clipped either.
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
  }
});
