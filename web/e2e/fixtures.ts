//! Fixtures and steps shared by the e2e tests: a server per test, users with unique names,
//! and the screens driven the way a person does (by accessible names, see the contract's
//! "Web app" table).
import { test as base, expect, type Browser, type Page } from '@playwright/test';
import { TestServer } from './server';

/** A signed-up user with its own browser context. */
export interface Person {
  username: string;
  displayName: string;
  page: Page;
}

let counter = 0;

/** A username unique across runs (3–32 chars of a-z 0-9 _). */
export function uniqueName(prefix: string): string {
  const stamp = Date.now().toString(36).slice(-6);
  return `${prefix}_${stamp}${(counter++).toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.toLowerCase().slice(0, 32);
}

export const test = base.extend<{ server: TestServer }>({
  // eslint-disable-next-line no-empty-pattern
  server: async ({}, use, testInfo) => {
    const server = await TestServer.start();
    await use(server);
    if (testInfo.status !== testInfo.expectedStatus) await testInfo.attach('server.log', { body: server.log, contentType: 'text/plain' });
    await server.dispose();
  },
});

export { expect };

/**
 * Opens a new browser context and signs a new user up through the login form (with a
 * display name when given; the username otherwise).
 */
export async function signUp(
  browser: Browser,
  server: TestServer,
  prefix: string,
  viewport = { width: 1280, height: 800 },
  displayName?: string,
): Promise<Person> {
  const context = await browser.newContext({ viewport, baseURL: server.url });
  const page = await context.newPage();
  const username = uniqueName(prefix);
  await page.goto('/');
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  if (displayName) await page.getByRole('textbox', { name: 'Display name' }).fill(displayName);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  return { username, displayName: displayName ?? username, page };
}

/** Logs an existing user in from a new browser context (another device). */
export async function logIn(browser: Browser, server: TestServer, who: Person): Promise<Person> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByRole('textbox', { name: 'Username' }).fill(who.username);
  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  return { ...who, page };
}

/** Starts (or reopens) the direct room with `other` through the dialog. */
export async function openDirect(person: Person, other: Person): Promise<void> {
  const { page } = person;
  await page.getByRole('button', { name: 'New direct message' }).click();
  const dialog = page.getByRole('dialog', { name: 'New direct message' });
  await dialog.getByRole('textbox', { name: 'Username' }).fill(other.username);
  await dialog.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('log', { name: other.displayName })).toBeVisible();
}

/** Creates a group through the dialog and waits for its chat. */
export async function createGroup(person: Person, name: string, members: Person[]): Promise<void> {
  const { page } = person;
  await page.getByRole('button', { name: 'New group' }).click();
  const dialog = page.getByRole('dialog', { name: 'New group' });
  await dialog.getByRole('textbox', { name: 'Group name' }).fill(name);
  await dialog.getByRole('textbox', { name: 'Members' }).fill(members.map((m) => m.username).join(', '));
  await dialog.getByRole('button', { name: 'Create' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('log', { name })).toBeVisible();
}

/** Clicks a room in the room list. */
export async function openRoom(person: Person, name: string): Promise<void> {
  const { page } = person;
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${escape(name)}`) }).click();
  await expect(page.getByRole('log', { name })).toBeVisible();
}

/** Types a message and presses Enter. */
export async function send(person: Person, text: string): Promise<void> {
  const box = person.page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await expect(box).toHaveValue('');
}

/** The messages in the open log whose text is exactly `text`. */
export function messagesWithText(person: Person, room: string, text: string) {
  return person.page.getByRole('log', { name: room }).locator('.bubble').getByText(text, { exact: true });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The row (`.message`) in the open log whose bubble reads `text`. */
export function messageRow(person: Person, room: string, text: string) {
  return person.page.getByRole('log', { name: room }).locator('.message').filter({ has: person.page.locator('.bubble').getByText(text, { exact: true }) });
}

/** Edits one of the person's own messages through its `Message actions` menu (Enter saves). */
export async function editMessage(person: Person, room: string, text: string, newText: string): Promise<void> {
  await messageRow(person, room, text).getByRole('button', { name: 'Message actions' }).click();
  await person.page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: 'Edit' }).click();
  // The line is now the editor (its bubble is gone), the only one in the log.
  const box = person.page.getByRole('log', { name: room }).getByRole('textbox', { name: 'Edit message' });
  await expect(box).toHaveValue(text);
  await box.fill(newText);
  await box.press('Enter');
  await expect(box).toBeHidden();
}

/** Deletes one of the person's own messages through its menu and the confirmation dialog. */
export async function deleteMessage(person: Person, room: string, text: string): Promise<void> {
  await messageRow(person, room, text).getByRole('button', { name: 'Message actions' }).click();
  await person.page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: 'Delete' }).click();
  const dialog = person.page.getByRole('dialog', { name: 'Delete message?' });
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await expect(dialog).toBeHidden();
}

/**
 * Calls the HTTP API as the signed-in person (the session token the app keeps), from inside
 * the page: for seeding history faster than typing it.
 */
export async function apiAs<T>(person: Person, method: string, path: string, body?: unknown): Promise<T> {
  return person.page.evaluate(
    async ({ method, path, body }) => {
      const session = JSON.parse(localStorage.getItem('sotong.session') ?? '{}') as { token?: string };
      const res = await fetch(path, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token ?? ''}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${String(res.status)} ${await res.text()}`);
      return (res.status === 204 ? undefined : await res.json()) as T;
    },
    { method, path, body },
  );
}

/** Opens the `Message actions` menu of the message reading `text` and picks `item`. */
export async function messageAction(person: Person, room: string, text: string, item: 'Reply' | 'React' | 'Edit' | 'Delete'): Promise<void> {
  await messageRow(person, room, text).getByRole('button', { name: 'Message actions' }).click();
  await person.page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: item }).click();
}
