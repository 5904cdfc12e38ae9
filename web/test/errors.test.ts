//! The wording of errors: every code of the contract, per action, with a fallback for codes
//! the app does not know, and never the server's raw message.
import { SotongHttpError } from '@sotong/react';
import { describe, expect, it, vi } from 'vitest';
import { describeCode, describeError } from '../src/api/errors';
import { ApiError, createApi, parseRetryAfter } from '../src/api/http';
import { setLocale } from '../src/i18n';

const RAW = 'a raw server sentence';

describe('describeError', () => {
  it('says "Wrong username or password." for invalid_credentials and for a bare 401 at login', () => {
    expect(describeError(new ApiError(401, 'invalid_credentials', RAW), 'login')).toBe('Wrong username or password.');
    expect(describeError(new ApiError(401, 'unauthorized', 'missing or invalid token'), 'login')).toBe('Wrong username or password.');
    expect(describeError(new ApiError(401, 'http_error', 'HTTP 401'), 'login')).toBe('Wrong username or password.');
  });

  it('words each contract code for the action at hand', () => {
    expect(describeError(new ApiError(403, 'registration_closed', RAW), 'register')).toMatch(/^Sign-up is closed/);
    expect(describeError(new ApiError(409, 'conflict', RAW), 'register')).toBe('That username is already taken. Please pick another one.');
    expect(describeError(new ApiError(409, 'taken', RAW), 'register')).toBe('That username is already taken. Please pick another one.');
    expect(describeError(new ApiError(400, 'invalid', 'a password has at least 8 characters'), 'register')).toMatch(/password at least 8 characters/);
    expect(describeError(new ApiError(404, 'not_found', 'no user named ghost_x'), 'openDirect', { usernames: ['ghost_x'] })).toBe('No user named “ghost_x”.');
    expect(describeError(new ApiError(404, 'not_found', RAW), 'createGroup', { usernames: ['a', 'b', 'c'] })).toBe('No user named “a”, “b” or “c”.');
    expect(describeError(new ApiError(404, 'not_found', RAW), 'createGroup')).toMatch(/do not exist/);
    expect(describeError(new ApiError(403, 'forbidden', RAW), 'openRoom')).toBe('You are not a member of this conversation.');
    expect(describeError(new ApiError(404, 'not_found', RAW), 'openRoom')).toBe('This conversation does not exist.');
    expect(describeError(new ApiError(400, 'invalid', RAW), 'openDirect')).toBe('Pick someone other than yourself.');
    expect(describeError(new ApiError(503, 'unavailable', RAW), 'other')).toMatch(/server is having trouble/);
  });

  it('says how long to wait when rate limited', () => {
    expect(describeError(new ApiError(429, 'rate_limited', RAW, 30), 'login')).toBe('Too many attempts. Please try again in 30 seconds.');
    expect(describeError(new ApiError(429, 'rate_limited', RAW, 300), 'register')).toBe('Too many attempts. Please try again in 5 minutes.');
    expect(describeError(new ApiError(429, 'rate_limited', RAW), 'login')).toBe('Too many attempts. Please wait a moment and try again.');
    expect(describeCode('rate_limited', 'send')).toMatch(/^You are sending too fast/);
  });

  it('reads an unknown code by its status where the status says enough', () => {
    expect(describeError(new ApiError(409, 'http_error', RAW), 'register')).toBe('That username is already taken. Please pick another one.');
    expect(describeError(new ApiError(429, 'http_error', RAW, 5), 'openDirect')).toBe('Too many attempts. Please try again in 5 seconds.');
    expect(describeError(new ApiError(403, 'forbidden', RAW), 'register')).toMatch(/^Sign-up is closed/);
  });

  it('falls back by action for an unknown code, and never shows the server text', () => {
    expect(describeError(new ApiError(418, 'brand_new_code', RAW), 'createGroup')).toBe('Could not create the group. Please try again.');
    expect(describeError(new ApiError(500, 'brand_new_code', RAW), 'login')).toMatch(/server is having trouble/);
    const codes = ['invalid_credentials', 'registration_closed', 'rate_limited', 'invalid', 'conflict', 'taken', 'forbidden', 'not_found', 'unauthorized', 'too_large', 'unavailable', 'x'];
    const actions = ['login', 'register', 'openDirect', 'createGroup', 'openRoom', 'send', 'other'] as const;
    for (const code of codes) for (const action of actions) expect(describeError(new ApiError(400, code, RAW), action)).not.toContain(RAW);
  });

  it('tells a network failure from a server answer', () => {
    expect(describeError(new TypeError('Failed to fetch'), 'login')).toBe('Cannot reach the server. Check your connection and try again.');
    expect(describeError(new Error('boom'), 'openDirect')).toBe('Could not start the conversation. Please try again.');
  });
});

describe('the HTTP client', () => {
  it('reads Retry-After into the ApiError, and survives an error body that is not JSON', async () => {
    const api = createApi({
      fetch: async () => new Response('<html>slow down</html>', { status: 429, headers: { 'Retry-After': '12' } }),
    });
    const error = await api.login('alice', 'whatever1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 429, code: 'http_error', retryAfterSeconds: 12 });
  });

  it("sends the realtime layer's calls with the token, to the base URL, and parses their answers", async () => {
    const sent: Array<{ url: string; method: string; auth: string | null; body: unknown }> = [];
    const api = createApi({
      token: 'tok',
      baseUrl: 'https://chat.example',
      fetch: async (input, init) => {
        sent.push({ url: String(input), method: init?.method ?? 'GET', auth: new Headers(init?.headers).get('Authorization'), body: init?.body });
        return String(input).endsWith('/read') ? new Response(null, { status: 204 }) : new Response('[{"id":1}]', { status: 200 });
      },
    });
    expect(await api.listMessages(3, { before: 40, limit: 20 })).toEqual([{ id: 1 }]);
    expect(await api.listChanges(3, { after: 7 })).toEqual([{ id: 1 }]);
    expect(await api.markRead(3, 41)).toBeUndefined();
    expect(await api.listReadMarks?.(3)).toEqual([{ id: 1 }]);
    expect(sent).toEqual([
      { url: 'https://chat.example/api/rooms/3/messages?before=40&limit=20', method: 'GET', auth: 'Bearer tok', body: undefined },
      { url: 'https://chat.example/api/rooms/3/changes?after=7', method: 'GET', auth: 'Bearer tok', body: undefined },
      { url: 'https://chat.example/api/rooms/3/read', method: 'POST', auth: 'Bearer tok', body: '{"seq":41}' },
      { url: 'https://chat.example/api/rooms/3/reads', method: 'GET', auth: 'Bearer tok', body: undefined },
    ]);
  });

  it("rejects the realtime layer's calls as the app's: an ApiError, and a 401 reported once", async () => {
    const onUnauthorized = vi.fn();
    let answer = new Response('{"error":"rate_limited","message":"slow"}', { status: 429, headers: { 'Retry-After': '3' } });
    const api = createApi({ token: 'tok', onUnauthorized, fetch: async () => answer });
    const limited = await api.listRooms().catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(ApiError);
    expect(limited).toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 3 });
    expect(onUnauthorized).not.toHaveBeenCalled();

    answer = new Response('{"error":"unauthorized","message":"expired"}', { status: 401 });
    const expired = await api.getRoom(3).catch((e: unknown) => e);
    expect(expired).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(expired).toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('parses Retry-After as seconds or as a date', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter('Sun, 06 Dec 2026 21:00:30 GMT', Date.parse('2026-12-06T21:00:00Z'))).toBe(30);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('words every code in Korean too, with names and waits filled in', () => {
    setLocale('ko');
    try {
      expect(describeError(new ApiError(401, 'invalid_credentials', RAW), 'login')).toBe('아이디 또는 비밀번호가 맞지 않아요.');
      expect(describeError(new ApiError(404, 'not_found', RAW), 'createGroup', { usernames: ['bob', 'carol', 'dan'] })).toBe('“bob”, “carol” 또는 “dan” 사용자를 찾을 수 없어요.');
      expect(describeError(new ApiError(429, 'rate_limited', RAW, 30), 'login')).toBe('시도 횟수가 너무 많아요. 30초 후에 다시 시도해 주세요.');
      expect(describeError(new SotongHttpError(413, 'too_large', 'the file is over the 25 MB limit'), 'upload')).toBe('파일이 너무 커서 보낼 수 없어요.');
      expect(describeError(new TypeError('Failed to fetch'), 'send')).toBe('서버에 연결할 수 없어요. 인터넷 연결을 확인하고 다시 시도해 주세요.');
      expect(describeError(new Error('?'), 'react')).toBe('공감을 남기지 못했어요. 다시 시도해 주세요.');
    } finally {
      setLocale('en');
    }
  });

  it('words a refused upload by its code', () => {
    expect(describeError(new SotongHttpError(415, 'type_mismatch', RAW), 'upload')).toBe('This file is not the image its name says.');
    expect(describeError(new SotongHttpError(403, 'forbidden', RAW), 'upload')).toBe('You are not a member of this conversation.');
    expect(describeError(new SotongHttpError(500, 'http_error', RAW), 'upload')).toMatch(/^The server is having trouble/);
  });
});
