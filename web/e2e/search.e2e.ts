//! End-to-end against the real server: Bob opens the search with Ctrl-K, finds Korean (two
//! characters, inside a word) and English (any case) with the matches marked, and a result
//! opens its chat scrolled to that message, highlighted, even when it is far back in history.
import { apiAs, createGroup, expect, openDirect, send, signUp, test } from './fixtures';

test('search in Korean and English: Ctrl-K, marked matches, a result opens the room at the message', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await send(alice, '안녕하세요, 밥!');
  await createGroup(alice, 'Seoul trip', [bob]);
  await send(alice, 'The Hello World plan');
  // Enough later messages that the plan is not on the first page of the chat.
  const rooms = await apiAs<{ id: number; name: string }[]>(alice, 'GET', '/api/rooms');
  const trip = rooms.find((r) => r.name === 'Seoul trip');
  if (!trip) throw new Error('no Seoul trip room');
  for (let i = 0; i < 70; i++) await apiAs(alice, 'POST', `/api/rooms/${String(trip.id)}/messages`, { text: `filler ${String(i)}` });

  const { page } = bob;
  await page.getByRole('navigation', { name: 'Rooms' }).waitFor();
  await page.keyboard.press('Control+k');
  const dialog = page.getByRole('dialog', { name: 'Search messages' });
  await expect(dialog).toBeVisible();
  const box = dialog.getByRole('searchbox', { name: 'Search' });
  await expect(box).toBeFocused();

  await box.fill('안녕');
  const results = dialog.getByRole('list', { name: 'Search results' }).getByRole('button');
  await expect(results).toHaveCount(1);
  await expect(results.first()).toContainText(alice.displayName);
  await expect(results.first().locator('mark')).toHaveText(['안녕']);

  await box.fill('hello');
  await expect(results).toHaveCount(1);
  await expect(results.first()).toContainText('Seoul trip');
  await expect(results.first().locator('mark')).toHaveText(['Hello']);

  await results.first().click();
  await expect(dialog).toBeHidden();
  const log = page.getByRole('log', { name: 'Seoul trip' });
  const row = log.locator('.message').filter({ has: page.locator('.bubble').getByText('The Hello World plan', { exact: true }) });
  await expect(row).toHaveClass(/highlighted/);
  await expect(row).toBeInViewport();

  // The sidebar button opens it too; Escape closes it.
  await page.getByRole('button', { name: 'Search messages' }).click();
  await expect(dialog).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
});
