//! The profile in the browser against the real server: a display name change seen live by
//! someone who shares a room, a password change then a login with the new password, and
//! "Log out everywhere" logging out another browser of the same user.
import { expect, logIn, openDirect, signUp, test, type Person } from './fixtures';

async function openProfile(person: Person) {
  await person.page.getByRole('button', { name: 'Profile' }).click();
  return person.page.getByRole('dialog', { name: 'Profile' });
}

test('a display name change is seen live by the other', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice', undefined, 'Alice');
  const bob = await signUp(browser, server, 'bob', undefined, 'Bob');
  await openDirect(alice, bob);
  const rooms = bob.page.getByRole('navigation', { name: 'Rooms' });
  await expect(rooms.getByRole('link', { name: /^Alice/ })).toBeVisible();

  const dialog = await openProfile(alice);
  await dialog.getByRole('textbox', { name: 'Display name' }).fill('Alice Liddell');
  await dialog.getByRole('button', { name: 'Save name' }).click();
  await expect(dialog.getByRole('status')).toHaveText('Display name saved.');
  await expect(alice.page.getByRole('button', { name: 'Profile' })).toContainText('Alice Liddell');

  // Bob's room list names the direct room after the new name, without a reload.
  await expect(rooms.getByRole('link', { name: /^Alice Liddell/ })).toBeVisible();
});

test('a password change, then a login with the new password', async ({ browser, server }) => {
  const dana = await signUp(browser, server, 'dana');
  const dialog = await openProfile(dana);
  await dialog.getByLabel('Current password').fill('not the password');
  await dialog.getByLabel('New password').fill('a brand new password');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expect(dialog.getByRole('alert')).toHaveText('The current password is wrong.');

  await dialog.getByLabel('Current password').fill('correct horse battery');
  await dialog.getByRole('button', { name: 'Change password' }).click();
  await expect(dialog.getByRole('status')).toHaveText('Password changed. Your other sessions were logged out.');
  // This session goes on.
  await expect(dana.page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByRole('textbox', { name: 'Username' }).fill(dana.username);
  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('Wrong username or password');
  await page.getByRole('textbox', { name: 'Password' }).fill('a brand new password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
});

test('log out everywhere logs out a second browser', async ({ browser, server }) => {
  const erin = await signUp(browser, server, 'erin');
  const elsewhere = await logIn(browser, server, erin);
  const dialog = await openProfile(erin);
  await dialog.getByRole('button', { name: 'Log out everywhere' }).click();
  await expect(erin.page.getByRole('button', { name: 'Log in' })).toBeVisible();
  await expect(erin.page.getByText('You were logged out everywhere. Please log in again.')).toBeVisible();
  // The other browser's socket was closed by the server: it is back at the login form too.
  await expect(elsewhere.page.getByRole('button', { name: 'Log in' })).toBeVisible();
});
