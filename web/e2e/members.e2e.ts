//! Group members in the browser against the real server: a rename seen live by the other
//! member (room list and chat header), a member added who then sees the room, and a member
//! leaving (the room leaves their list; the others see the member list shrink).
import { createGroup, expect, signUp, test, uniqueName, type Person } from './fixtures';

function roomLink(person: Person, name: string) {
  return person.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${name}`) });
}

async function openMembers(person: Person) {
  await person.page.getByRole('button', { name: 'Members' }).click();
  return person.page.getByRole('dialog', { name: 'Members' });
}

test('a rename is seen live by the other member', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const group = `Trip ${uniqueName('g').slice(-5)}`;
  const renamed = `Ski ${uniqueName('r').slice(-5)}`;
  await createGroup(alice, group, [bob]);
  await roomLink(bob, group).click();
  await expect(bob.page.getByRole('log', { name: group })).toBeVisible();

  const dialog = await openMembers(alice);
  await dialog.getByRole('button', { name: 'Rename' }).click();
  await dialog.getByRole('textbox', { name: 'Group name' }).fill(renamed);
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog.getByText(renamed, { exact: true })).toBeVisible();

  // Bob, who has the room open, sees the new name in his list and in the chat header.
  await expect(roomLink(bob, renamed)).toBeVisible();
  await expect(bob.page.getByRole('heading', { name: renamed })).toBeVisible();
  await expect(bob.page.getByRole('log', { name: renamed })).toBeVisible();
});

test('a member added sees the room; a member who leaves loses it', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  const carol = await signUp(browser, server, 'carol');
  const group = `Team ${uniqueName('g').slice(-5)}`;
  await createGroup(alice, group, [bob]);
  await expect(roomLink(carol, group)).toHaveCount(0);

  const dialog = await openMembers(alice);
  await dialog.getByRole('textbox', { name: 'Add members' }).fill(carol.username);
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  const list = dialog.getByRole('list', { name: 'Members' });
  await expect(list.getByRole('listitem')).toHaveCount(3);
  await expect(list.getByText(`@${carol.username}`)).toBeVisible();

  // Carol sees the room at once, without reloading.
  await expect(roomLink(carol, group)).toBeVisible();
  await roomLink(carol, group).click();
  await expect(carol.page.getByRole('log', { name: group })).toBeVisible();

  // Carol leaves: the room leaves her list; Alice's member list shrinks live.
  const carolDialog = await openMembers(carol);
  await carolDialog.getByRole('button', { name: 'Leave group' }).click();
  const confirm = carol.page.getByRole('dialog', { name: 'Leave group?' });
  await confirm.getByRole('button', { name: 'Leave', exact: true }).click();
  await expect(roomLink(carol, group)).toHaveCount(0);
  await expect(carol.page.getByRole('log', { name: group })).toHaveCount(0);
  await expect(list.getByRole('listitem')).toHaveCount(2);
  await expect(list.getByText(`@${carol.username}`)).toHaveCount(0);
});
