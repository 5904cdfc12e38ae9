//! The Korean interface leaves no English behind: the main screens (login with an error, the
//! room list, a chat with replies, reactions, an edit, a deletion, a file and a toast, the
//! message menu, the reaction picker, the delete confirmation, the new-room dialogs, a room
//! that cannot be opened) are rendered in Korean, and every Latin-letter word in their text and
//! in their `aria-label`, `placeholder`, `title` and `alt` attributes must come from the data
//! (names, usernames, message texts, file names) or a short allow-list. A string added without
//! `t()` fails here.
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeCode } from '../src/api/errors';
import { navigate, roomPath } from '../src/app/router';
import { LoginScreen } from '../src/features/auth/LoginScreen';
import { setLocale } from '../src/i18n';
import { renderShell, type RenderShellOptions, world } from './harness';

/**
 * Latin words that are not English to translate: the app's name, file size units, the key
 * caps of the editor's hint, and the switcher's own name for English.
 */
const ALLOWED = ['sotong', 'B', 'KB', 'MB', 'Enter', 'Esc', 'English'];

/** Every Latin-letter word a person can read or hear in `root`, with where it was found. */
function latinWords(root: HTMLElement): Array<{ word: string; where: string }> {
  const found: Array<{ word: string; where: string }> = [];
  const take = (text: string | null, where: string) => {
    for (const word of text?.match(/[A-Za-z]+/g) ?? []) found.push({ word, where: `${where}: “${text ?? ''}”` });
  };
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    // An avatar's initials are a name's (decorative, hidden from assistive technology).
    if (node.parentElement?.closest('script, style, svg, .avatar')) continue;
    take(node.textContent, `text in <${node.parentElement?.tagName.toLowerCase() ?? '?'} class="${node.parentElement?.className ?? ''}">`);
  }
  for (const element of root.querySelectorAll('*')) {
    for (const attribute of ['aria-label', 'placeholder', 'title', 'alt']) {
      if (element.hasAttribute(attribute)) take(element.getAttribute(attribute), `${attribute} of <${element.tagName.toLowerCase()}>`);
    }
  }
  return found;
}

/** Fails with the untranslated words and where they are, unless they come from `data`. */
function expectKoreanOnly(data: readonly string[]) {
  const allowed = new Set([...ALLOWED, ...data.flatMap((text) => text.match(/[A-Za-z]+/g) ?? [])]);
  const left = latinWords(document.body).filter(({ word }) => !allowed.has(word));
  expect(left.map(({ word, where }) => `${word} (${where})`)).toEqual([]);
}

/** The names and texts the seeded world shows: the only Latin words allowed on screen. */
const DATA = ['alice', 'Alice', 'bob', 'Bob', 'carol', 'Carol', 'Weekend trip', 'plan.pdf', 'application/pdf'];

/** Asks about desktop notifications (the prompt shows) without raising any. */
class FakeNotification {
  static permission: NotificationPermission = 'default';
  static requestPermission = () => Promise.resolve<NotificationPermission>('default');
}

beforeEach(() => {
  localStorage.clear();
  vi.stubGlobal('Notification', FakeNotification);
  setLocale('ko');
});

afterEach(() => {
  vi.unstubAllGlobals();
  act(() => navigate('/'));
  setLocale('en');
});

/** The app words failed sends itself, as in production: in Korean here. */
const appWording: RenderShellOptions = { client: { describeError: (code) => describeCode(code, 'send') } };

describe('the Korean interface', () => {
  it('the login screen, with a notice and a sign-up problem, is all Korean', () => {
    render(<LoginScreen onLogin={() => {}} notice="로그인이 만료됐어요. 다시 로그인해 주세요." />);
    expect(screen.getByRole('button', { name: '로그인' })).toBeTruthy();
    expect(screen.getByRole('combobox', { name: '언어' })).toHaveValue('ko');
    fireEvent.change(screen.getByRole('textbox', { name: '아이디' }), { target: { value: 'no spaces allowed' } });
    fireEvent.change(screen.getByLabelText('비밀번호'), { target: { value: 'long enough password' } });
    fireEvent.click(screen.getByRole('button', { name: '가입하기' }));
    expect(screen.getByRole('alert')).toHaveTextContent('아이디는');
    // What the person typed is theirs, not the interface's.
    expectKoreanOnly(['no spaces allowed']);
  });

  it('the room list and a chat with replies, reactions, an edit, a deletion, a file and a toast are all Korean', async () => {
    const w = world();
    w.broker.post(w.group, w.bob.user, 'who brings the tent?');
    w.broker.post(w.group, w.carol.user, 'I do', null, 1);
    w.broker.react(w.group, 2, w.bob.user, '👍', true);
    w.broker.react(w.group, 2, w.alice.user, '🎉', true);
    w.broker.post(w.group, w.alice.user, 'typo here');
    w.broker.change(w.group, 3, w.alice.user, 'fixed here');
    w.broker.post(w.group, w.bob.user, 'oops');
    const file = w.broker.addUpload(w.group, w.bob.user, 'plan.pdf', 'application/pdf', 1_245_184);
    w.broker.post(w.group, w.bob.user, '', null, undefined, [file.id]);
    w.broker.post(w.group, w.bob.user, 'about the deleted one', null, 4);
    w.broker.change(w.group, 4, w.bob.user, null);
    renderShell(w, roomPath(w.group), appWording);

    const log = await screen.findByRole('log', { name: 'Weekend trip' });
    await within(log).findByText('about the deleted one');
    await within(log).findByRole('group', { name: 'plan.pdf' });
    expect(within(log).getByText('(수정됨)')).toBeTruthy();
    expect(within(log).getAllByText('삭제된 메시지입니다').length).toBeGreaterThan(0);
    // The day is written the Korean way (the fake server's messages are from 1 January 2025).
    expect(within(log).getByRole('separator', { name: /^2025년 1월 1일/ })).toBeTruthy();
    expect(screen.getByRole('status', { name: '연결 상태' })).toHaveTextContent('연결됨');

    // A message in the room not on screen: a toast and an unread count in the list.
    w.broker.post(w.direct, w.bob.user, 'lunch?');
    const toasts = screen.getByRole('status', { name: '알림' });
    await within(toasts).findByText('lunch?');
    const rooms = screen.getByRole('navigation', { name: '채팅방 목록' });
    await waitFor(() => expect(within(rooms).getByRole('link', { name: /^Bob/ })).toHaveTextContent('1개 안 읽음'));
    expect(screen.getByRole('region', { name: '데스크톱 알림' })).toBeTruthy();
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);

    // Replying: the reply bar and the composer's placeholder.
    const mine = within(log).getByText('fixed here').closest('.message') as HTMLElement;
    fireEvent.click(within(mine).getByRole('button', { name: '메시지 메뉴' }));
    const menu = await screen.findByRole('menu', { name: '메시지 메뉴' });
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);
    fireEvent.click(within(menu).getByRole('menuitem', { name: '답장' }));
    expect(screen.getByRole('textbox', { name: '메시지' })).toHaveAttribute('placeholder', '답장을 입력하세요…');
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);
    fireEvent.click(screen.getByRole('button', { name: '답장 취소' }));

    // The reaction picker.
    fireEvent.click(within(mine).getByRole('button', { name: '메시지 메뉴' }));
    fireEvent.click(within(await screen.findByRole('menu')).getByRole('menuitem', { name: '공감' }));
    const picker = await screen.findByRole('dialog', { name: '공감 추가' });
    expect(within(picker).getByRole('button', { name: '최고' })).toHaveTextContent('👍');
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);
    fireEvent.keyDown(picker, { key: 'Escape' });

    // Editing in place, then the delete confirmation.
    fireEvent.click(within(mine).getByRole('button', { name: '메시지 메뉴' }));
    fireEvent.click(within(await screen.findByRole('menu')).getByRole('menuitem', { name: '수정' }));
    expect(screen.getByRole('textbox', { name: '메시지 수정' })).toBeTruthy();
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);
    fireEvent.keyDown(screen.getByRole('textbox', { name: '메시지 수정' }), { key: 'Escape' });
    fireEvent.click(within(mine).getByRole('button', { name: '메시지 메뉴' }));
    fireEvent.click(within(await screen.findByRole('menu')).getByRole('menuitem', { name: '삭제' }));
    const confirm = await screen.findByRole('dialog', { name: '메시지를 삭제할까요?' });
    expectKoreanOnly([...DATA, 'who brings the tent?', 'I do', 'fixed here', 'about the deleted one', 'lunch?']);
    fireEvent.click(within(confirm).getByRole('button', { name: '취소' }));
  });

  it('the new-room dialogs, with a search that finds nobody, are all Korean', async () => {
    const w = world();
    // The user search answers that nobody matches.
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('[]', { status: 200, headers: { 'Content-Type': 'application/json' } })),
    );
    renderShell(w, '/', appWording);
    await screen.findByRole('link', { name: /^Bob/ });
    expect(screen.getByRole('heading', { name: '대화를 선택하세요' })).toBeTruthy();
    expectKoreanOnly(DATA);

    fireEvent.click(screen.getByRole('button', { name: '새 1:1 채팅' }));
    const direct = screen.getByRole('dialog', { name: '새 1:1 채팅' });
    fireEvent.change(within(direct).getByRole('textbox', { name: '아이디' }), { target: { value: 'zed' } });
    await within(direct).findByText('“zed”(으)로 찾은 사람이 없어요.');
    expectKoreanOnly([...DATA, 'zed']);
    fireEvent.click(within(direct).getByRole('button', { name: '취소' }));

    fireEvent.click(screen.getByRole('button', { name: '새 그룹' }));
    const group = screen.getByRole('dialog', { name: '새 그룹' });
    expect(within(group).getByRole('textbox', { name: '멤버' })).toBeTruthy();
    // The members example is usernames, which are Latin by the server's rule.
    expectKoreanOnly(DATA);
  });

  it('a conversation that cannot be opened says why in Korean', async () => {
    const w = world();
    renderShell(w, roomPath(999), appWording);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('존재하지 않는 대화예요.');
    expectKoreanOnly(DATA);
  });
});
