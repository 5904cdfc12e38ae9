//! The dark theme follows the system: a Chromium asking for `prefers-color-scheme: dark` gets
//! dark backgrounds with light text (login card, top bar, sidebar, chat, dialog), one asking
//! for light gets the light theme; in both, presence and mute marks stay legible (3:1, and
//! 4.5:1 for the presence line).
//! Checked on computed styles, not on pixels.
import type { Page } from '@playwright/test';
import { expect, openDirect, send, signUp, test, uniqueName } from './fixtures';

/** The relative luminance (WCAG) of a computed `rgb(…)` / `rgba(…)` colour. */
function luminance(color: string): number {
  const [r, g, b] = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
}

/** The contrast ratio of two computed colours. */
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

async function colours(page: Page, selector: string): Promise<{ background: string; color: string }> {
  return page.locator(selector).first().evaluate((el) => {
    const style = getComputedStyle(el);
    return { background: style.backgroundColor, color: style.color };
  });
}

for (const scheme of ['dark', 'light'] as const) {
  test(`the ${scheme} theme follows the system setting`, async ({ browser, server }) => {
    const dark = scheme === 'dark';
    const expectScheme = (c: { background: string; color: string }, what: string) => {
      if (dark) {
        expect(luminance(c.background), `${what} background ${c.background}`).toBeLessThan(0.05);
        expect(luminance(c.color), `${what} text ${c.color}`).toBeGreaterThan(0.5);
      } else {
        expect(luminance(c.background), `${what} background ${c.background}`).toBeGreaterThan(0.8);
        expect(luminance(c.color), `${what} text ${c.color}`).toBeLessThan(0.05);
      }
      expect(contrast(c.background, c.color), `${what} contrast`).toBeGreaterThanOrEqual(4.5);
    };
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 800 }, baseURL: server.url });
    const page = await context.newPage();
    await page.goto('/');
    await expect(page.locator('meta[name="color-scheme"]')).toHaveAttribute('content', 'light dark');
    expectScheme(await colours(page, '.auth-card'), 'login card');
    // The field hint, the faintest text, still reads.
    const hint = await colours(page, '.field-hint');
    if (dark) expect(contrast((await colours(page, '.auth-card')).background, hint.color)).toBeGreaterThanOrEqual(4.5);

    const username = uniqueName('minji');
    await page.getByRole('textbox', { name: 'Username' }).fill(username);
    await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
    expectScheme(await colours(page, '.topbar'), 'top bar');
    expectScheme(await colours(page, '.sidebar'), 'sidebar');
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme)).toBe('light dark');

    const daniel = await signUp(browser, server, 'daniel', undefined, 'Daniel');
    await openDirect(daniel, { username, displayName: username, page });
    await send(daniel, 'hello from the other side');
    await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Daniel/ }).click();
    const log = page.getByRole('log', { name: 'Daniel' });
    await expect(log.getByText('hello from the other side')).toBeVisible();
    expectScheme(await colours(page, '.theirs .bubble'), 'their bubble');
    expectScheme(await colours(page, '.composer'), 'composer');

    // Daniel's presence (the dot in the room list, the header's line) and the room's mute mark
    // take the palette's own colours: on the light and the dark surfaces they stay legible.
    const link = page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Daniel/ });
    await expect(link.getByRole('img', { name: 'Online' })).toBeVisible();
    await expect(page.locator('.chat-head .presence-text')).toHaveText('Online');
    await page.getByRole('button', { name: 'Mute room' }).click();
    await expect(link.locator('.muted-mark')).toBeVisible();
    const surface = (await colours(page, '.sidebar')).background;
    expect(contrast(surface, (await colours(page, '.room .presence-dot.presence-online')).background), 'online dot').toBeGreaterThanOrEqual(3);
    expect(contrast(surface, (await colours(page, '.muted-mark')).color), 'mute mark').toBeGreaterThanOrEqual(3);
    const head = await colours(page, '.chat-head');
    expect(contrast(head.background, (await colours(page, '.chat-head .presence-text')).color), 'presence line').toBeGreaterThanOrEqual(4.5);

    await page.getByRole('button', { name: 'New group' }).click();
    await expect(page.getByRole('dialog', { name: 'New group' })).toBeVisible();
    expectScheme(await colours(page, '.dialog'), 'dialog');
    await context.close();
  });
}
