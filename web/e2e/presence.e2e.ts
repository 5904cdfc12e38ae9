//! Presence as a second user sees it: Bob sees Alice online (a dot on her avatar in his room
//! list and in the chat header, and the header's line), away while her page is hidden (the
//! page emulation of `pageEmulation.ts`), offline with "Last seen …" after she closes her page
//! (after the server's grace), and offline without a last sighting while she hides it.
import { emulatePage } from './pageEmulation';
import { expect, logIn, openDirect, signUp, test, type Person } from './fixtures';

/** Where Bob sees Alice's presence: the dot in the room list, the dot and line in the header. */
function seen(bob: Person, alice: Person) {
  const chat = bob.page.getByRole('region', { name: `Chat with ${alice.displayName}` });
  const link = bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${alice.displayName}`) });
  return {
    listDot: (state: string) => link.getByRole('img', { name: state }),
    headerDot: (state: string) => chat.locator('.chat-head').getByRole('img', { name: state }),
    line: chat.locator('.chat-head .presence-text'),
  };
}

test('presence changes seen by a second user', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  await alice.page.context().addInitScript(emulatePage);
  await alice.page.reload();
  await expect(alice.page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(bob, alice);
  const at = seen(bob, alice);

  await expect(at.listDot('Online')).toBeVisible();
  await expect(at.headerDot('Online')).toBeVisible();
  await expect(at.line).toHaveText('Online');

  await alice.page.evaluate(() => window.setAway(true));
  await expect(at.headerDot('Away')).toBeVisible();
  await expect(at.listDot('Away')).toBeVisible();
  await expect(at.line).toHaveText('Away');
  await alice.page.evaluate(() => window.setAway(false));
  await expect(at.line).toHaveText('Online');

  // Her page closes: offline once the grace (5 s by default) is over, with when.
  await alice.page.context().close();
  await expect(at.headerDot('Offline')).toBeVisible({ timeout: 20_000 });
  await expect(at.listDot('Offline')).toBeVisible();
  await expect(at.line).toHaveText(/^Last seen /);

  // Back, then hidden: offline again at once, and no "Last seen".
  const again = await logIn(browser, server, alice);
  await expect(at.line).toHaveText('Online');
  const hide = again.page.getByRole('button', { name: 'Hide my presence' });
  await expect(hide).toHaveAttribute('aria-pressed', 'false');
  await hide.click();
  await expect(hide).toHaveAttribute('aria-pressed', 'true');
  await expect(at.headerDot('Offline')).toBeVisible();
  await expect(at.line).toHaveText('Offline');
  // Hidden users still see others.
  await openDirect(again, bob);
  await expect(seen(again, bob).line).toHaveText('Online');
  await hide.click();
  await expect(at.line).toHaveText('Online');
});
