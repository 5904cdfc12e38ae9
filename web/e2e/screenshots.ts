//! Renders the screenshots in docs/screenshots (desktop 1280x800 and phone 390x844) from a
//! real server seeded over HTTP: login, room list + chat, a toast, an edited and a deleted
//! message, and rich messages (a reply, reactions, mention suggestions, an image and a file,
//! formatting), messages that came while the page was away (the divider, the title count), read
//! receipts (a group's unread numbers with the Seen by dialog), a group's members and the profile
//! dialog, the Korean interface and the dark theme. Run: `npm run screenshots` (`-- -g edit` for one of them only).
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';
import { emulatePage } from './pageEmulation';
import type { TestServer } from './server';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');

interface Account {
  username: string;
  token: string;
  displayName: string;
}

async function call<T>(server: TestServer, method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

// Each run has a fresh server, so the names can be the plain ones a reader expects.
async function account(server: TestServer, username: string, displayName: string): Promise<Account> {
  await call(server, 'POST', '/api/register', { username, password: 'correct horse battery', displayName });
  const { token } = await call<{ token: string }>(server, 'POST', '/api/login', { username, password: 'correct horse battery' });
  return { username, token, displayName };
}

const say = (server: TestServer, who: Account, roomId: number, text: string) =>
  call(server, 'POST', `/api/rooms/${roomId}/messages`, { text }, who.token);

async function seed(server: TestServer) {
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const sora = await account(server, 'sora', 'Sora Lee');
  const alex = await account(server, 'alex', 'Alex Kim');
  const trip = await call<{ id: number }>(server, 'POST', '/api/rooms', { name: 'Weekend trip', members: [daniel.username, sora.username, alex.username] }, minji.token);
  await say(server, sora, trip.id, 'Should we leave Saturday at 8?');
  await say(server, alex, trip.id, '주말에 비 온대요 ☔\u{FE0F} 우산 챙기세요!');
  await say(server, minji, trip.id, 'Works for me. I will book the cabin tonight.');
  await say(server, daniel, trip.id, 'I can drive 🚗');
  const withAlex = await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: alex.username }, minji.token);
  await say(server, alex, withAlex.id, 'Thanks for the notes from today!');
  await say(server, minji, withAlex.id, 'Anytime 🙂');
  const withDaniel = await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: daniel.username }, minji.token);
  const lines: Array<[Account, string]> = [
    [daniel, 'Hey! Are we still on for lunch tomorrow?'],
    [minji, 'Yes! 12:30 at the usual place?'],
    [daniel, 'Perfect. I found a new ramen spot nearby, want to try it instead?'],
    [minji, 'Oh nice, let’s do it 🍜'],
    [daniel, 'I will send you the address.'],
    [daniel, '서울 마포구 연남동 — the one with the blue sign'],
    [minji, '좋아요! See you there.'],
  ];
  for (const [who, text] of lines) await say(server, who, withDaniel.id, text);
  const withSora = await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: sora.username }, minji.token);
  await say(server, sora, withSora.id, 'Did you see the photos from last weekend?');
  await say(server, sora, withSora.id, 'The sunset one is my favourite 🌅');
  return { minji, daniel, sora, alex, withDaniel, withSora };
}

async function logIn(page: Page, who: Account) {
  await page.getByRole('textbox', { name: 'Username' }).fill(who.username);
  await page.getByRole('textbox', { name: 'Password' }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
}

for (const [kind, viewport] of [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  test(`screenshots (${kind})`, async ({ browser, server }) => {
    mkdirSync(out, { recursive: true });
    const people = await seed(server);
    const context = await browser.newContext({ viewport, baseURL: server.url, deviceScaleFactor: kind === 'phone' ? 2 : 1, hasTouch: kind === 'phone', isMobile: kind === 'phone' });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByRole('textbox', { name: 'Username' }).fill(people.minji.username);
    await page.screenshot({ path: `${out}/${kind}-login.png` });
    await page.getByRole('textbox', { name: 'Username' }).fill('');
    await logIn(page, people.minji);

    const rooms = page.getByRole('navigation', { name: 'Rooms' });
    await expect(rooms.getByRole('link', { name: /^Daniel Cho/ })).toBeVisible();
    if (kind === 'phone') await page.screenshot({ path: `${out}/${kind}-rooms.png` });

    await rooms.getByRole('link', { name: /^Daniel Cho/ }).click();
    const log = page.getByRole('log', { name: 'Daniel Cho' });
    await expect(log.getByText('좋아요! See you there.')).toBeVisible();
    await page.screenshot({ path: `${out}/${kind}-chat.png` });

    // U+FE0F asks for the colour (emoji) presentation of ☕, which is text by default.
    const coffee = 'Coffee later? ☕\u{FE0F}';
    await say(server, people.sora, people.withSora.id, coffee);
    await expect(page.getByRole('status', { name: 'Notifications' }).getByText(coffee)).toBeVisible();
    await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
    await page.screenshot({ path: `${out}/${kind}-toast.png` });
    await context.close();
  });
}

test('screenshot (desktop, edited and deleted messages)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  // Its own small seed, in plain text: the shot is about the marks, not about fonts.
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const room = (await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: daniel.username }, minji.token)).id;
  const lines: Array<[Account, string]> = [
    [daniel, 'Are we still on for lunch tomorrow?'],
    [minji, 'Yes! 12:30 at the usual place?'],
    [daniel, 'Perfect. I found a new ramen spot nearby.'],
    [daniel, 'Sent you the wrong address, sorry'],
    [minji, 'Let us try it then'],
    [minji, 'See you there.'],
  ];
  for (const [who, text] of lines) await say(server, who, room, text);
  const seqOf = (text: string) => lines.findIndex(([, t]) => t === text) + 1;
  await call(server, 'PATCH', `/api/rooms/${room}/messages/${seqOf('Yes! 12:30 at the usual place?')}`, { text: 'Yes! 12:45 at the usual place?' }, minji.token);
  await call(server, 'DELETE', `/api/rooms/${room}/messages/${seqOf('Sent you the wrong address, sorry')}`, undefined, daniel.token);
  await call(server, 'PATCH', `/api/rooms/${room}/messages/${seqOf('Let us try it then')}`, { text: 'Let’s try it then!' }, minji.token);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Daniel Cho/ }).click();
  const log = page.getByRole('log', { name: 'Daniel Cho' });
  await expect(log.getByText('(edited)')).toHaveCount(2);
  await expect(log.getByText('Message deleted')).toBeVisible();
  // The menu of Minji's last message, open.
  await log.getByRole('button', { name: 'Message actions' }).last().click();
  await expect(page.getByRole('menu', { name: 'Message actions' })).toBeVisible();
  await page.screenshot({ path: `${out}/desktop-edit-delete.png` });
  await context.close();
});

test('screenshots (desktop, rich messages: reply, reactions, mentions, attachments, formatting)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const sora = await account(server, 'sora', 'Sora Lee');
  const trip = (await call<{ id: number }>(server, 'POST', '/api/rooms', { name: 'Weekend trip', members: [daniel.username, sora.username] }, minji.token)).id;
  const post = (who: Account, body: Record<string, unknown>) => call<{ seq: number }>(server, 'POST', `/api/rooms/${trip}/messages`, body, who.token);
  const react = (who: Account, seq: number, emoji: string) => call(server, 'PUT', `/api/rooms/${trip}/messages/${seq}/reactions/${encodeURIComponent(emoji)}`, undefined, who.token);
  const plan = await post(sora, { text: 'Plan for Saturday:\n> leave at **8:00** sharp\n> lunch at the lake\nDetails: https://example.org/trip/saturday.' });
  await react(daniel, plan.seq, '👍');
  await react(minji, plan.seq, '👍');
  await react(daniel, plan.seq, '🎉');
  const drive = await post(daniel, { text: 'I can drive 🚗 — `4 seats`, _maybe 5_' });
  await post(minji, { text: 'Perfect, @daniel takes the car.', replyTo: drive.seq });
  await react(sora, drive.seq, '❤️');

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, sora);
  // A photo and a packing list, uploaded and sent by Sora from the page (a canvas makes the photo).
  await page.evaluate(
    async ({ trip }) => {
      const { token } = JSON.parse(localStorage.getItem('sotong.session') ?? '{}') as { token: string };
      const canvas = document.createElement('canvas');
      canvas.width = 800;
      canvas.height = 500;
      const g = canvas.getContext('2d')!;
      const sky = g.createLinearGradient(0, 0, 0, 500);
      sky.addColorStop(0, '#fb923c');
      sky.addColorStop(0.6, '#f472b6');
      sky.addColorStop(1, '#312e81');
      g.fillStyle = sky;
      g.fillRect(0, 0, 800, 500);
      g.fillStyle = '#fde68a';
      g.beginPath();
      g.arc(400, 330, 70, 0, Math.PI * 2);
      g.fill();
      g.fillStyle = '#1e1b4b';
      g.fillRect(0, 360, 800, 140);
      const photo = await new Promise<Blob>((done) => canvas.toBlob((b) => done(b!), 'image/png'));
      const upload = async (name: string, body: Blob) => {
        const res = await fetch(`/api/rooms/${String(trip)}/attachments?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body });
        return ((await res.json()) as { id: number }).id;
      };
      const ids = [await upload('lake-sunset.png', photo), await upload('packing-list.pdf', new Blob(['%PDF-1.4\n% packing list\n'.padEnd(48_000, ' ')]))];
      await fetch(`/api/rooms/${String(trip)}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ text: 'Last year at the lake, and the packing list', attachments: ids }),
      });
    },
    { trip },
  );
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Weekend trip/ }).click();
  const log = page.getByRole('log', { name: 'Weekend trip' });
  await expect(log.getByRole('img', { name: 'lake-sunset.png' })).toHaveAttribute('src', /^blob:/);
  await expect(log.getByRole('group', { name: 'packing-list.pdf' })).toBeVisible();
  await page.waitForFunction(() => Array.from(document.images).every((img) => img.complete));
  await page.screenshot({ path: `${out}/desktop-attachments.png` });

  await expect(log.locator('strong').first()).toBeVisible();
  await page.screenshot({ path: `${out}/desktop-formatting.png`, clip: (await log.boundingBox())! });

  const driveRow = log.locator('.message').filter({ hasText: 'I can drive' }).first();
  await driveRow.getByRole('button', { name: 'Message actions' }).click();
  await page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: 'Reply' }).click();
  await page.getByRole('textbox', { name: 'Message' }).fill('Can I bring my bike?');
  await page.screenshot({ path: `${out}/desktop-reply.png` });
  await page.getByRole('button', { name: 'Cancel reply' }).click();
  await page.getByRole('textbox', { name: 'Message' }).fill('');

  // The picker on the reply at the bottom opens upwards, leaving the chips above in view.
  const replyRow = log.locator('.message').filter({ hasText: 'takes the car' });
  await replyRow.scrollIntoViewIfNeeded();
  await replyRow.getByRole('button', { name: 'Message actions' }).click();
  await page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: 'React' }).click();
  await expect(page.getByRole('dialog', { name: 'Add reaction' })).toBeVisible();
  await page.screenshot({ path: `${out}/desktop-reactions.png` });
  await page.keyboard.press('Escape');

  await page.getByRole('textbox', { name: 'Message' }).pressSequentially('Who packs the stove, @');
  await expect(page.getByRole('listbox', { name: 'Mention suggestions' })).toBeVisible();
  await page.screenshot({ path: `${out}/desktop-mentions.png` });
  await context.close();
});

test('screenshot (desktop, new messages while away: the divider and the title count)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const room = (await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: daniel.username }, minji.token)).id;
  for (const [who, text] of [
    [daniel, 'Are we still on for lunch tomorrow?'],
    [minji, 'Yes! 12:30 at the usual place?'],
    [daniel, 'Perfect.'],
  ] as const) {
    await say(server, who, room, text);
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  await context.grantPermissions(['notifications'], { origin: server.url });
  await context.addInitScript(emulatePage);
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Daniel Cho/ }).click();
  const log = page.getByRole('log', { name: 'Daniel Cho' });
  await expect(log.getByText('Perfect.')).toBeVisible();
  // Minji switches to another tab; Daniel writes meanwhile.
  await page.evaluate(() => window.setAway(true));
  await say(server, daniel, room, 'Change of plan: the ramen place opens at 1.');
  await say(server, daniel, room, 'Can we meet at 1:15 instead?');
  await expect(page).toHaveTitle('(2) sotong');
  await expect(log.getByText('Can we meet at 1:15 instead?')).toBeVisible();
  await expect(log.getByRole('separator', { name: 'New messages' })).toBeVisible();
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  // A headless browser draws no tab strip: show the tab's title in a strip above the app.
  await page.evaluate(() => {
    const strip = document.createElement('div');
    strip.textContent = document.title;
    // Through the CSSOM: the server's Content-Security-Policy refuses inline style attributes.
    strip.style.cssText = 'position:fixed;top:0;left:0;right:0;height:34px;display:flex;align-items:center;padding:0 16px;background:#dee1e6;font:600 13px system-ui,sans-serif;color:#202124;z-index:1000;border-bottom:1px solid #c4c7cc';
    document.body.prepend(strip);
    document.body.style.paddingTop = '34px';
    const app = document.querySelector<HTMLElement>('.app');
    if (app) app.style.height = 'calc(100dvh - 34px)';
  });
  await page.screenshot({ path: `${out}/desktop-new-messages.png` });
  await context.close();
});

test('screenshots (the Korean interface; the dark theme on a desktop and a phone)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const people = await seed(server);
  const shoot = async (file: string, options: { locale?: string; colorScheme?: 'dark'; phone?: boolean }, korean = false) => {
    const phone = options.phone ?? false;
    const context = await browser.newContext({
      viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
      baseURL: server.url,
      locale: options.locale ?? 'en-US',
      colorScheme: options.colorScheme ?? 'light',
      deviceScaleFactor: phone ? 2 : 1,
      hasTouch: phone,
      isMobile: phone,
    });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByRole('textbox', { name: korean ? '아이디' : 'Username' }).fill(people.minji.username);
    await page.getByRole('textbox', { name: korean ? '비밀번호' : 'Password' }).fill('correct horse battery');
    await page.getByRole('button', { name: korean ? '로그인' : 'Log in' }).click();
    await expect(page.getByRole('status', { name: korean ? '연결 상태' : 'Connection status' })).toHaveText(korean ? '연결됨' : 'Connected');
    const rooms = page.getByRole('navigation', { name: korean ? '채팅방 목록' : 'Rooms' });
    await rooms.getByRole('link', { name: /^Daniel Cho/ }).click();
    await expect(page.getByRole('log', { name: 'Daniel Cho' }).getByText('좋아요! See you there.')).toBeVisible();
    if (!phone) {
      // A toast from another room, and the message menu open on Minji's last message.
      const text = korean ? '사진 보냈어요 📷' : 'Sent you the photos 📷';
      await say(server, people.sora, people.withSora.id, text);
      await expect(page.getByRole('status', { name: korean ? '알림' : 'Notifications' }).getByText(text)).toBeVisible();
      await page.getByRole('log', { name: 'Daniel Cho' }).getByRole('button', { name: korean ? '메시지 메뉴' : 'Message actions' }).last().click();
    }
    await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
    await page.screenshot({ path: `${out}/${file}` });
    await context.close();
  };
  await shoot('desktop-korean.png', { locale: 'ko-KR' }, true);
  await shoot('desktop-dark.png', { colorScheme: 'dark' });
  await shoot('phone-dark.png', { colorScheme: 'dark', phone: true });
});

test('screenshot (desktop, seen by: unread numbers in a group and who has read)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const sora = await account(server, 'sora', 'Sora Lee');
  const alex = await account(server, 'alex', 'Alex Kim');
  const trip = (await call<{ id: number }>(server, 'POST', '/api/rooms', { name: 'Weekend trip', members: [daniel.username, sora.username, alex.username] }, minji.token)).id;
  await say(server, sora, trip, 'Should we leave Saturday at 8?');
  await say(server, minji, trip, 'Works for me. I will book the cabin tonight.');
  await say(server, daniel, trip, 'I can drive 🚗');
  await say(server, minji, trip, 'Cabin booked! Check-in from 3 pm.');
  const read = (who: Account, seq: number) => call(server, 'POST', `/api/rooms/${trip}/read`, { seq }, who.token);
  await read(sora, 3);
  await read(daniel, 4);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Weekend trip/ }).click();
  const log = page.getByRole('log', { name: 'Weekend trip' });
  await expect(log.getByRole('button', { name: '2 unread' })).toBeVisible();
  await log.getByRole('button', { name: '1 unread' }).last().click();
  await expect(page.getByRole('dialog', { name: 'Seen by' })).toBeVisible();
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  await page.screenshot({ path: `${out}/desktop-seen.png` });
  await context.close();
});

test('screenshots (desktop, members and profile)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const sora = await account(server, 'sora', 'Sora Lee');
  const alex = await account(server, 'alex', 'Alex Kim');
  const group = await call<{ id: number }>(server, 'POST', '/api/rooms', { name: 'Weekend hike', members: [daniel.username, sora.username, alex.username] }, minji.token);
  await say(server, daniel, group.id, 'Bukhansan on Saturday?');
  await say(server, sora, group.id, 'I am in! Meet at 8?');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Weekend hike/ }).click();
  await expect(page.getByRole('log', { name: 'Weekend hike' }).getByText('I am in! Meet at 8?')).toBeVisible();
  await page.getByRole('button', { name: 'Members' }).click();
  const members = page.getByRole('dialog', { name: 'Members' });
  await expect(members.getByRole('list', { name: 'Members' }).getByRole('listitem')).toHaveCount(4);
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  await page.screenshot({ path: `${out}/desktop-members.png` });
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: 'Profile' }).click();
  const profile = page.getByRole('dialog', { name: 'Profile' });
  await profile.getByRole('textbox', { name: 'Display name' }).fill('Minji Park 🌿');
  await profile.getByRole('button', { name: 'Save name' }).click();
  await expect(profile.getByRole('status')).toHaveText('Display name saved.');
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  await page.screenshot({ path: `${out}/desktop-profile.png` });
  await context.close();
});

test('screenshot (desktop, presence: online and away dots in the room list, the chat header line)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const alex = await account(server, 'alex', 'Alex Kim');
  const sora = await account(server, 'sora', 'Sora Lee');
  const withDaniel = (await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: daniel.username }, minji.token)).id;
  const withAlex = (await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: alex.username }, minji.token)).id;
  await call(server, 'POST', '/api/rooms/direct', { username: sora.username }, minji.token);
  await say(server, alex, withAlex, 'Back in 10, grabbing coffee ☕');
  await say(server, daniel, withDaniel, 'Are we still on for lunch tomorrow?');
  await say(server, minji, withDaniel, 'Yes! 12:30 at the usual place?');
  // Daniel has the app open; Alex's tab is in the background.
  const others = [];
  for (const [who, away] of [
    [daniel, false],
    [alex, true],
  ] as const) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
    await context.addInitScript(emulatePage);
    const page = await context.newPage();
    await page.goto('/');
    await logIn(page, who);
    if (away) await page.evaluate(() => window.setAway(true));
    others.push(context);
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  const rooms = page.getByRole('navigation', { name: 'Rooms' });
  await rooms.getByRole('link', { name: /^Daniel Cho/ }).click();
  await expect(page.locator('.chat-head .presence-text')).toHaveText('Online');
  await expect(rooms.getByRole('link', { name: /^Alex Kim/ }).getByRole('img', { name: 'Away' })).toBeVisible();
  await expect(rooms.getByRole('link', { name: /^Sora Lee/ }).getByRole('img', { name: 'Offline' })).toBeVisible();
  await page.screenshot({ path: `${out}/desktop-presence.png` });
  await context.close();
  for (const other of others) await other.close();
});

test('screenshot (desktop, search: Korean matches across rooms, highlighted)', async ({ browser, server }) => {
  mkdirSync(out, { recursive: true });
  const minji = await account(server, 'minji', 'Minji Park');
  const daniel = await account(server, 'daniel', 'Daniel Cho');
  const sora = await account(server, 'sora', 'Sora Lee');
  const withDaniel = (await call<{ id: number }>(server, 'POST', '/api/rooms/direct', { username: daniel.username }, minji.token)).id;
  const trip = (await call<{ id: number }>(server, 'POST', '/api/rooms', { name: 'Seoul trip', members: [daniel.username, sora.username] }, minji.token)).id;
  await say(server, daniel, withDaniel, '안녕하세요! 내일 점심 어때요?');
  await say(server, minji, withDaniel, 'Lunch tomorrow sounds great');
  await say(server, sora, trip, '안녕, 다들! 토요일 8시에 출발해요');
  await say(server, daniel, trip, 'I will bring snacks 🍙');
  await say(server, minji, trip, '안녕히 주무세요 🌙');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await logIn(page, minji);
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: /^Seoul trip/ }).click();
  await page.keyboard.press('Control+k');
  const dialog = page.getByRole('dialog', { name: 'Search messages' });
  await dialog.getByRole('searchbox', { name: 'Search' }).fill('안녕');
  await expect(dialog.getByRole('list', { name: 'Search results' }).getByRole('button')).toHaveCount(3);
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  await page.screenshot({ path: `${out}/desktop-search.png` });
  await context.close();
});
