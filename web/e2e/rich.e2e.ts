//! End-to-end against the real server: replies (and the jump to an original that has to be
//! paged in), reactions seen live by the other side, mention suggestions and the `@` marker,
//! an image pasted then shown as a thumbnail and full size, a file downloaded with the same
//! bytes, a refused upload's text, and formatting (bold, links with rel, HTML shown as text).
import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { apiAs, createGroup, expect, messageAction, messageRow, openDirect, send, signUp, test } from './fixtures';

/** Pastes a PNG drawn in the page (`width` × `height`) into the composer, as a browser does. */
async function pasteImage(page: Page, name: string, width: number, height: number): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).evaluate(
    async (box, { name, width, height }) => {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const g = canvas.getContext('2d')!;
      g.fillStyle = '#4f46e5';
      g.fillRect(0, 0, width, height);
      g.fillStyle = '#fbbf24';
      g.fillRect(width / 4, height / 4, width / 2, height / 2);
      const blob = await new Promise<Blob>((done) => canvas.toBlob((b) => done(b!), 'image/png'));
      const data = new DataTransfer();
      data.items.add(new File([blob], name, { type: 'image/png' }));
      box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    },
    { name, width, height },
  );
}

/**
 * Posts messages over HTTP as the page's user, one after the other; a `429` (the send budget,
 * 100 at once) waits the `Retry-After` it names and sends the same message again.
 */
async function seedMessages(page: Page, roomId: number, texts: string[]): Promise<void> {
  await page.evaluate(
    async ({ roomId, texts }) => {
      const { token } = JSON.parse(localStorage.getItem('sotong.session') ?? '{}') as { token?: string };
      for (const text of texts) {
        for (;;) {
          const res = await fetch(`/api/rooms/${String(roomId)}/messages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token ?? ''}` },
            body: JSON.stringify({ text }),
          });
          if (res.status !== 429) {
            if (!res.ok) throw new Error(`${String(res.status)} ${await res.text()}`);
            break;
          }
          const wait = Number(res.headers.get('Retry-After') ?? '1');
          await new Promise((resume) => setTimeout(resume, Math.max(1, wait) * 1000));
        }
      }
    },
    { roomId, texts },
  );
}

/** Picks files through `Attach file` (the browser's file chooser). */
async function attach(page: Page, files: Array<{ name: string; mimeType: string; buffer: Buffer }>): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Attach file' }).click();
  await (await chooser).setFiles(files);
}

test('replies: the quote shows in the reply on both sides, and clicking it pages back to the original and highlights it', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  const rooms = await apiAs<Array<{ id: number; name: string }>>(bob, 'GET', '/api/rooms');
  const roomId = rooms[0]!.id;

  await send(bob, 'the original plan: meet at the station');
  // Enough history that the original is three pages up.
  await seedMessages(bob.page, roomId, Array.from({ length: 130 }, (_, i) => `filler ${String(i + 1)}`));
  await apiAs(bob, 'POST', `/api/rooms/${roomId}/messages`, { text: 'still the plan?', replyTo: 1 });

  await alice.page.reload();
  const log = alice.page.getByRole('log', { name: bob.displayName });
  const reply = messageRow(alice, bob.displayName, 'still the plan?');
  const quote = reply.getByRole('button', { name: /^In reply to / });
  await expect(quote).toContainText('the original plan: meet at the station');
  await expect(log.locator('.message[data-seq="1"]')).toHaveCount(0);

  await quote.click();
  const original = log.locator('.message[data-seq="1"]');
  await expect(original).toHaveClass(/highlighted/);
  await expect(original).toBeInViewport();

  // Alice replies to the reply through the menu; Bob sees her quote live.
  await messageAction(alice, bob.displayName, 'still the plan?', 'Reply');
  await expect(alice.page.locator('.reply-bar')).toContainText(`Replying to ${bob.displayName}`);
  await expect(alice.page.locator('.reply-bar')).toContainText('still the plan?');
  await send(alice, 'yes, 8 sharp');
  await expect(alice.page.locator('.reply-bar')).toHaveCount(0);
  const seen = messageRow(bob, alice.displayName, 'yes, 8 sharp');
  await expect(seen.getByRole('button', { name: /^In reply to / })).toContainText('still the plan?');
});

test('reactions: counts and who reacted, seen by the other user live, toggled by the chip', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  await send(bob, 'tickets booked');
  await expect(messageRow(alice, bob.displayName, 'tickets booked')).toHaveCount(1);

  await messageAction(alice, bob.displayName, 'tickets booked', 'React');
  await alice.page.getByRole('dialog', { name: 'Add reaction' }).getByRole('button', { name: 'thumbsup' }).click();
  const mine = messageRow(alice, bob.displayName, 'tickets booked').getByRole('button', { name: '👍 1: You' });
  await expect(mine).toHaveAttribute('aria-pressed', 'true');

  const onBob = messageRow(bob, alice.displayName, 'tickets booked').getByRole('button', { name: `👍 1: ${alice.displayName}` });
  await expect(onBob).toHaveAttribute('aria-pressed', 'false');
  await onBob.click();
  await expect(messageRow(bob, alice.displayName, 'tickets booked').getByRole('button', { name: `👍 2: ${alice.displayName}, You` })).toHaveAttribute('aria-pressed', 'true');
  await expect(messageRow(alice, bob.displayName, 'tickets booked').getByRole('button', { name: `👍 2: You, ${bob.displayName}` })).toBeVisible();

  // Alice takes hers back: Bob's chip counts one again.
  await messageRow(alice, bob.displayName, 'tickets booked').getByRole('button', { name: /^👍 2/ }).click();
  await expect(messageRow(bob, alice.displayName, 'tickets booked').getByRole('button', { name: '👍 1: You' })).toBeVisible();

  // After a reload the server's state comes back.
  await alice.page.reload();
  await expect(messageRow(alice, bob.displayName, 'tickets booked').getByRole('button', { name: `👍 1: ${bob.displayName}` })).toHaveAttribute('aria-pressed', 'false');
});

test('mentions: suggestions while typing @, the @ marker in the other user’s room list, a toast that says so', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await createGroup(alice, 'Trip', [bob]);
  // Bob looks at the group list, not at the group.
  const bobLink = bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Trip/ });
  await expect(bobLink).toBeVisible();

  const box = alice.page.getByRole('textbox', { name: 'Message' });
  await box.pressSequentially(`look @${bob.username.slice(0, 4)}`);
  const suggestions = alice.page.getByRole('listbox', { name: 'Mention suggestions' });
  await expect(suggestions.getByRole('option')).toHaveCount(1);
  await expect(suggestions.getByRole('option')).toContainText(`@${bob.username}`);
  await box.press('Enter');
  await expect(box).toHaveValue(`look @${bob.username} `);
  await box.pressSequentially('this');
  await box.press('Enter');
  await expect(box).toHaveValue('');
  const sent = alice.page.getByRole('log', { name: 'Trip' }).locator('.mention');
  await expect(sent).toHaveText(`@${bob.username}`);

  await expect(bobLink).toHaveAccessibleName(/mentioned/);
  await expect(bobLink).toContainText('1');
  await expect(bob.page.getByRole('status', { name: 'Notifications' })).toContainText('mentioned you');
  await bobLink.click();
  await expect(bob.page.getByRole('log', { name: 'Trip' }).locator('.mention-me')).toHaveText(`@${bob.username}`);
  await expect(bobLink).not.toHaveAccessibleName(/mentioned/);
});

test('attachments: a pasted image shows as a thumbnail, then full size; a file downloads with the same bytes; a refused upload says why', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);

  await pasteImage(alice.page, 'sunset.png', 640, 400);
  await expect(alice.page.getByRole('list', { name: 'Files to send' })).toContainText('sunset.png');
  const sendButton = alice.page.getByRole('button', { name: 'Send' });
  await expect(sendButton).toBeEnabled();
  await expect(alice.page.getByRole('progressbar', { name: 'sunset.png' })).toHaveAttribute('value', '100');
  await sendButton.click();
  await expect(alice.page.getByRole('list', { name: 'Files to send' })).toHaveCount(0);

  const thumb = bob.page.getByRole('log', { name: alice.displayName }).getByRole('button', { name: 'Open image sunset.png' });
  const thumbImage = thumb.getByRole('img', { name: 'sunset.png' });
  await expect(thumbImage).toHaveAttribute('src', /^blob:/);
  await expect.poll(() => thumbImage.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeLessThanOrEqual(320);
  await expect.poll(() => thumbImage.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  await thumb.click();
  const viewer = bob.page.getByRole('dialog', { name: 'sunset.png' });
  const full = viewer.getByRole('img', { name: 'sunset.png' });
  await expect.poll(() => full.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(640);
  await bob.page.keyboard.press('Escape');
  await expect(viewer).toHaveCount(0);

  // A text file through Attach file, with a message; Bob downloads it.
  const bytes = Buffer.from('packing list\n- tent\n- stove\n- 김밥\n');
  await attach(alice.page, [{ name: 'packing.txt', mimeType: 'text/plain', buffer: bytes }]);
  await expect(alice.page.getByRole('list', { name: 'Files to send' })).toContainText('packing.txt');
  await expect(sendButton).toBeEnabled();
  await send(alice, 'the list');
  const card = bob.page.getByRole('log', { name: alice.displayName }).getByRole('group', { name: 'packing.txt' });
  await expect(card).toContainText('text/plain');
  const download = bob.page.waitForEvent('download');
  await card.getByRole('button', { name: 'Download packing.txt' }).click();
  const saved = await download;
  expect(saved.suggestedFilename()).toBe('packing.txt');
  expect(await readFile((await saved.path())!)).toEqual(bytes);

  // HTML under an image's name is refused by the server; its text shows in an alert.
  await attach(alice.page, [{ name: 'cat.png', mimeType: 'image/png', buffer: Buffer.from('<html><script>alert(1)</script></html>') }]);
  const alert = alice.page.getByRole('alert');
  await expect(alert).toContainText('cat.png: ');
  await expect(alert).not.toHaveText('cat.png: ');
  await alice.page.getByRole('button', { name: 'Remove cat.png' }).click();
  await expect(alert).toHaveCount(0);
});

test('formatting: bold is rendered, links open apart with rel, HTML is shown as typed', async ({ browser, server }) => {
  const alice = await signUp(browser, server, 'alice');
  const bob = await signUp(browser, server, 'bob');
  await openDirect(alice, bob);
  await openDirect(bob, alice);
  await send(alice, '**read this** https://example.org/guide. <b>not bold</b> `code` javascript:alert(1)');
  const row = bob.page.getByRole('log', { name: alice.displayName }).locator('.message').filter({ hasText: 'read this' });
  await expect(row.locator('strong')).toHaveText('read this');
  const link = row.getByRole('link', { name: 'https://example.org/guide' });
  await expect(link).toHaveAttribute('href', 'https://example.org/guide');
  await expect(link).toHaveAttribute('rel', 'noopener noreferrer');
  await expect(link).toHaveAttribute('target', '_blank');
  await expect(row.getByRole('link')).toHaveCount(1);
  await expect(row.locator('.bubble b')).toHaveCount(0);
  await expect(row.locator('.text')).toContainText('<b>not bold</b>');
  await expect(row.locator('code')).toHaveText('code');
});
