//! The example against the real RabbitMQ Web-STOMP in Chromium: Alice and Bob in two browser
//! contexts, each test in a `run` of its own (its own topics on the shared broker).
import { expect, inChat, openRoom, roomButton, send, test, toasts } from './fixtures';

test('direct → group → back → send: once on both screens; a message for a room not on screen is a toast', async ({ openAs, run }) => {
  const alice = await openAs('alice');
  const bob = await openAs('bob');

  // Only the rooms each is in: Alice and Bob have the direct room and the group.
  await expect(alice.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button')).toHaveCount(2);

  // Alice opens the direct room, the group, and comes back; Bob has the direct room open.
  await openRoom(alice, 'Bob');
  await openRoom(alice, 'Weekend trip');
  await openRoom(alice, 'Bob');
  await openRoom(bob, 'Alice');

  const first = `hi bob ${run}`;
  await send(alice, first);
  await expect(inChat(bob, 'Alice', first)).toHaveCount(1);
  await expect(toasts(bob)).toHaveCount(0);
  await expect(roomButton(bob, 'Alice')).toHaveAccessibleName('Alice');
  // Bob's reply reaches Alice after her own message came back from the broker (one queue,
  // in order), so by then her echo has been merged or shown twice.
  await send(bob, `hi alice ${run}`);
  await expect(inChat(alice, 'Bob', `hi alice ${run}`)).toHaveCount(1);
  await expect(inChat(alice, 'Bob', first)).toHaveCount(1);
  await expect(inChat(alice, 'Bob', first)).toHaveClass(/message-sent/);
  await expect(inChat(bob, 'Alice', first)).toHaveCount(1);

  // Bob switches to the group: Alice's next direct message is a toast and an unread count,
  // not a line in the group's chat.
  await openRoom(bob, 'Weekend trip');
  const second = `are you there? ${run}`;
  await send(alice, second);
  await expect(toasts(bob)).toHaveCount(1);
  await expect(toasts(bob)).toContainText(second);
  await expect(toasts(bob)).toContainText('Alice');
  await expect(roomButton(bob, 'Alice')).toHaveAccessibleName('Alice 1 unread');
  await expect(bob.page.getByRole('log', { name: 'Weekend trip' }).getByText(second)).toHaveCount(0);

  // Opening the direct room shows it once, and clears the toast and the count.
  await openRoom(bob, 'Alice');
  await expect(inChat(bob, 'Alice', second)).toHaveCount(1);
  await expect(toasts(bob)).toHaveCount(0);
  await expect(roomButton(bob, 'Alice')).toHaveAccessibleName('Alice');
  await expect(bob.page.getByRole('log', { name: 'Alice' }).getByRole('listitem')).toHaveCount(3);
});

test('after the socket drops, a message sent while offline is delivered once on reconnect', async ({ openAs, run }) => {
  const alice = await openAs('alice');
  const bob = await openAs('bob');
  await openRoom(alice, 'Bob');
  await openRoom(bob, 'Alice');
  await send(alice, `before ${run}`);
  await expect(inChat(bob, 'Alice', `before ${run}`)).toHaveCount(1);

  // Alice's network goes away: the socket drops and reconnecting fails until it is back.
  const status = alice.page.getByRole('status', { name: 'Connection status' });
  await alice.page.context().setOffline(true);
  await expect(status).not.toHaveText('Connected');

  const offline = `sent offline ${run}`;
  await send(alice, offline);
  await expect(inChat(alice, 'Bob', offline)).toHaveClass(/message-pending/);

  await alice.page.context().setOffline(false);
  await expect(status).toHaveText('Connected');
  await expect(inChat(bob, 'Alice', offline)).toHaveCount(1);
  await expect(inChat(alice, 'Bob', offline)).toHaveClass(/message-sent/);

  // Both ways work on the new connection, and each message is still shown once.
  const after = `after ${run}`;
  await send(bob, after);
  await expect(inChat(alice, 'Bob', after)).toHaveCount(1);
  await send(alice, `last ${run}`);
  await expect(inChat(bob, 'Alice', `last ${run}`)).toHaveCount(1);
  for (const text of [`before ${run}`, offline, after, `last ${run}`]) {
    await expect(inChat(alice, 'Bob', text)).toHaveCount(1);
    await expect(inChat(bob, 'Alice', text)).toHaveCount(1);
  }
  await expect(toasts(alice)).toHaveCount(0);
  await expect(toasts(bob)).toHaveCount(0);

  // The rooms not on screen were subscribed again too: a group message is a toast for Alice.
  await openRoom(bob, 'Weekend trip');
  await send(bob, `group after ${run}`);
  await expect(toasts(alice)).toContainText(`Bob in Weekend trip: group after ${run}`);
  await expect(roomButton(alice, 'Weekend trip')).toHaveAccessibleName('Weekend trip 1 unread');
});

test('a group message: in the chat of whoever has the group open, a toast for the others; Carol sees only the group', async ({ openAs, run }) => {
  const alice = await openAs('alice');
  const bob = await openAs('bob');
  const carol = await openAs('carol');
  const carolsRooms = carol.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button');
  await expect(carolsRooms).toHaveCount(1);
  await expect(carolsRooms).toHaveAccessibleName('Weekend trip');

  await openRoom(alice, 'Weekend trip');
  await openRoom(bob, 'Weekend trip');
  const text = `who brings the tent? ${run}`;
  await send(alice, text);
  await expect(inChat(bob, 'Weekend trip', text)).toHaveCount(1);
  await expect(toasts(bob)).toHaveCount(0);
  await expect(toasts(carol)).toHaveCount(1);
  await expect(toasts(carol)).toContainText(`Alice in Weekend trip: ${text}`);
  await expect(roomButton(carol, 'Weekend trip')).toHaveAccessibleName('Weekend trip 1 unread');

  // Carol opens the group from the toast: the message once, the toast and the count gone.
  await toasts(carol).getByRole('button', { name: /^Alice/ }).click();
  await expect(inChat(carol, 'Weekend trip', text)).toHaveCount(1);
  await expect(toasts(carol)).toHaveCount(0);
  await expect(roomButton(carol, 'Weekend trip')).toHaveAccessibleName('Weekend trip');

  // Carol answers; Alice and Bob see it once, and Alice's own message is still once.
  await send(carol, `me ${run}`);
  await expect(inChat(alice, 'Weekend trip', `me ${run}`)).toHaveCount(1);
  await expect(inChat(bob, 'Weekend trip', `me ${run}`)).toHaveCount(1);
  await expect(inChat(alice, 'Weekend trip', text)).toHaveCount(1);
  await expect(alice.page.getByRole('log', { name: 'Weekend trip' }).getByRole('listitem')).toHaveCount(2);
});
