//! Fixtures of the example's browser test: the built example served by `vite preview` on an
//! ephemeral loopback port (one per worker), a fresh `run` per test (so its topics on the
//! shared RabbitMQ are its own), and people opened in browser contexts of their own, closed
//! (with their sockets) when the test ends.
import { test as base, expect, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { preview } from 'vite';

/** The example's folder (its `dist/` is what is served). */
const exampleDir = fileURLToPath(new URL('..', import.meta.url));

/** RabbitMQ's Web-STOMP endpoint (scripts/rabbitmq-web-stomp enables it). */
export const BROKER_URL = process.env.RABBITMQ_WEB_STOMP_URL ?? 'ws://127.0.0.1:15674/ws';

/** One person of the example in a browser context of their own. */
export interface Person {
  displayName: string;
  page: Page;
}

/** The people of the example. */
export type Who = 'alice' | 'bob' | 'carol';

export const test = base.extend<{ run: string; openAs: (who: Who) => Promise<Person> }, { appUrl: string }>({
  appUrl: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      if (!existsSync(`${exampleDir}/dist/index.html`)) {
        throw new Error('the example is not built: run `npm run build -w sotong-example-rabbitmq-chat` (npm run test:e2e:rabbitmq does)');
      }
      const server = await preview({
        root: exampleDir,
        configFile: false,
        logLevel: 'warn',
        preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false },
      });
      const url = server.resolvedUrls?.local[0];
      if (!url) throw new Error('vite preview reported no URL');
      await use(url);
      await server.close();
    },
    { scope: 'worker' },
  ],
  // eslint-disable-next-line no-empty-pattern
  run: async ({}, use) => {
    await use(`e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
  },
  // Opens the example as `who` in this test's run and waits until it is connected.
  openAs: async ({ browser, appUrl, run }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (who) => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      contexts.push(context);
      const page = await context.newPage();
      const query = new URLSearchParams({ user: who, run, broker: BROKER_URL });
      await page.goto(`${appUrl}?${query.toString()}`);
      await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
      return { displayName: who.charAt(0).toUpperCase() + who.slice(1), page };
    });
    for (const context of contexts) await context.close();
  },
});

export { expect };

/** The room's entry in the room list (its name, then `N unread` when there are any). */
export function roomButton(person: Person, room: string): Locator {
  return person.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name: new RegExp(`^${room}`) });
}

/** Opens a room from the room list and waits for its messages. */
export async function openRoom(person: Person, room: string): Promise<void> {
  await roomButton(person, room).click();
  await expect(person.page.getByRole('log', { name: room })).toBeVisible();
}

/** Types a message in the open room and presses Enter. */
export async function send(person: Person, text: string): Promise<void> {
  const box = person.page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await expect(box).toHaveValue('');
}

/** The messages of the room's log (when it is open) whose text is exactly `text`. */
export function inChat(person: Person, room: string, text: string): Locator {
  return person.page.getByRole('log', { name: room }).getByRole('listitem').filter({ has: person.page.getByText(text, { exact: true }) });
}

/** The toasts on the person's screen. */
export function toasts(person: Person): Locator {
  return person.page.getByRole('region', { name: 'Notifications' }).getByRole('status');
}
