//! The Korean interface in a real browser: a Chromium whose language is Korean gets the app in
//! Korean from the first page (login, room list, chat, a toast), dates and times written the
//! Korean way; the `언어` / `Language` switch turns it to English and back, and the choice
//! outlives a reload. A browser in English meanwhile stays English.
import { expect, openDirect, send, signUp, test, uniqueName } from './fixtures';

test('the Korean interface: chosen from the browser, switchable, remembered', async ({ browser, server }) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');

  // The login screen, in Korean.
  await expect(page.locator('html')).toHaveAttribute('lang', 'ko');
  await expect(page.getByText('팀과 친구를 위한 실시간 채팅')).toBeVisible();
  await expect(page.getByRole('combobox', { name: '언어' })).toHaveValue('ko');
  const username = uniqueName('minji');
  await page.getByRole('textbox', { name: '아이디' }).fill(username);
  await page.getByRole('textbox', { name: '비밀번호' }).fill('correct horse battery');
  await page.getByRole('textbox', { name: '표시 이름' }).fill('민지');
  await page.getByRole('button', { name: '가입하기' }).click();
  await expect(page.getByRole('status', { name: '연결 상태' })).toHaveText('연결됨');
  await expect(page.getByRole('heading', { name: '대화를 선택하세요' })).toBeVisible();

  // Someone with an English browser writes: the toast and the room list speak Korean, their
  // screen English.
  const daniel = await signUp(browser, server, 'daniel', undefined, 'Daniel');
  await expect(daniel.page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  await openDirect(daniel, { username, displayName: '민지', page });
  await send(daniel, 'Lunch at 12:30?');
  const toasts = page.getByRole('status', { name: '알림' });
  await expect(toasts.getByText('Lunch at 12:30?')).toBeVisible();
  await expect(toasts.getByRole('button', { name: '닫기' })).toBeVisible();
  const link = page.getByRole('navigation', { name: '채팅방 목록' }).getByRole('link', { name: /^Daniel/ });
  await expect(link).toContainText('1개 안 읽음');

  // The chat, in Korean: the day, the time of day, the composer, the message menu.
  await link.click();
  const log = page.getByRole('log', { name: 'Daniel' });
  await expect(log.getByText('Lunch at 12:30?')).toBeVisible();
  await expect(log.getByRole('separator', { name: '오늘' })).toBeVisible();
  await expect(log.locator('time').first()).toHaveText(/^(오전|오후) \d{1,2}:\d{2}$/);
  const box = page.getByRole('textbox', { name: '메시지' });
  await expect(box).toHaveAttribute('placeholder', '메시지를 입력하세요…');
  await box.fill('좋아요!');
  await box.press('Enter');
  await expect(log.getByText('좋아요!')).toBeVisible();
  await log.locator('.message').filter({ hasText: '좋아요!' }).getByRole('button', { name: '메시지 메뉴' }).click();
  await expect(page.getByRole('menu', { name: '메시지 메뉴' }).getByRole('menuitem')).toHaveText(['답장', '공감', '수정', '삭제']);
  await page.keyboard.press('Escape');

  // Switched to English: everything at once, and still English after a reload.
  await page.getByRole('combobox', { name: '언어' }).selectOption('en');
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  await expect(page.getByRole('textbox', { name: 'Message' })).toHaveAttribute('placeholder', 'Write a message…');
  await expect(log.getByRole('separator', { name: 'Today' })).toBeVisible();
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('status', { name: 'Connection status' })).toHaveText('Connected');
  await expect(page.getByRole('combobox', { name: 'Language' })).toHaveValue('en');
  await expect(page.getByRole('navigation', { name: 'Rooms' })).toBeVisible();

  // And back to Korean, remembered too (the browser's language is not asked again).
  await page.getByRole('combobox', { name: 'Language' }).selectOption('ko');
  await expect(page.getByRole('status', { name: '연결 상태' })).toHaveText('연결됨');
  await page.reload();
  await expect(page.getByRole('status', { name: '연결 상태' })).toHaveText('연결됨');
  await expect(page.getByRole('button', { name: '로그아웃' })).toBeVisible();

  // The English browser never changed.
  await expect(daniel.page.getByRole('textbox', { name: 'Message' })).toBeVisible();
  await expect(daniel.page.locator('html')).toHaveAttribute('lang', 'en');
  await context.close();
});

test('the language chosen on the login screen stays after logging out', async ({ browser, server }) => {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 }, baseURL: server.url });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByRole('combobox', { name: 'Language' }).selectOption('ko');
  await expect(page.getByRole('button', { name: '로그인' })).toBeVisible();
  await page.getByRole('textbox', { name: '아이디' }).fill(uniqueName('sora'));
  await page.getByRole('textbox', { name: '비밀번호' }).fill('short');
  await page.getByRole('button', { name: '가입하기' }).click();
  await expect(page.getByRole('alert')).toHaveText('비밀번호는 8자 이상으로 정해 주세요.');
  await page.getByRole('textbox', { name: '비밀번호' }).fill('correct horse battery');
  await page.getByRole('button', { name: '가입하기' }).click();
  await expect(page.getByRole('status', { name: '연결 상태' })).toHaveText('연결됨');
  await page.getByRole('button', { name: '로그아웃' }).click();
  await expect(page.getByRole('button', { name: '로그인' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: '로그인' })).toBeVisible();
  await context.close();
});
