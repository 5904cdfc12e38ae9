//! The HTTP half of the contract: a small `fetch` wrapper with the bearer token, and one
//! typed function per endpoint. The endpoints the realtime layer needs (rooms, history pages,
//! changes, read marks) are the package's own (`createSotongApi`) over the same wrapper; the
//! rest are the app's. A `401` is reported through `onUnauthorized` (the app logs out) and
//! thrown as an `ApiError` like any other error answer, from either half.
import { createSotongApi, fetchAttachment, uploadAttachment, type SotongApi } from '@sotong/react';
import type { Attachment, Room, SearchResults, User } from './types';

/**
 * An error answer: HTTP status plus the contract's `{error, message}` body. `message` is the
 * server's text, for logs; what a person reads comes from `describeError` (./errors).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** From a `429`'s `Retry-After` header (seconds), when present. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** `Retry-After` in seconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Options for `createApi`. */
export interface ApiOptions {
  /** The session token, if logged in. */
  token?: string | null;
  /** Called when an authenticated call gets `401` (token expired or revoked). */
  onUnauthorized?: () => void;
  /** Base URL; empty means same origin (the server serves the app). */
  baseUrl?: string;
  fetch?: typeof fetch;
}

/**
 * Every endpoint of the contract the app uses: the realtime layer's (`SotongApi`, built by the
 * package) and the app's own.
 */
export interface Api extends SotongApi {
  register(username: string, password: string, displayName?: string): Promise<User>;
  login(username: string, password: string): Promise<{ token: string; user: User }>;
  logout(): Promise<void>;
  me(): Promise<User>;
  /** The caller's own settings (sotong): whether others see its presence. */
  mySettings(): Promise<{ presenceVisible: boolean }>;
  /** Shows or hides the caller's presence to others (sotong). */
  setPresenceVisible(visible: boolean): Promise<{ presenceVisible: boolean }>;
  searchUsers(prefix: string): Promise<User[]>;
  /** Searches the text of the messages of the user's rooms (`GET /api/search`). */
  searchMessages(query: { q: string; room?: number; sender?: string; before?: string; limit?: number }): Promise<SearchResults>;
  openDirect(username: string): Promise<Room>;
  createGroup(name: string, members: string[]): Promise<Room>;
  /** Renames a group (`PATCH /api/rooms/{id}`); every member hears of it. */
  renameRoom(roomId: number, name: string): Promise<Room>;
  /** Adds members to a group by username. */
  addMembers(roomId: number, usernames: string[]): Promise<Room>;
  /** Leaves a group. */
  leaveRoom(roomId: number): Promise<void>;
  /** Sets the user's display name (`PATCH /api/me`). */
  updateMe(displayName: string): Promise<User>;
  /** Changes the password; this session stays, every other one ends. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /** Ends every session of the user, this one included, and closes every socket. */
  logoutEverywhere(): Promise<void>;
  /**
   * Uploads a file to a room, reporting progress; rejects with the server's
   * `SotongHttpError` (its `message` is what the person reads), or `AbortError`.
   */
  uploadAttachment(roomId: number, file: Blob, name: string, options?: { onProgress?(sent: number, total: number): void; signal?: AbortSignal }): Promise<Attachment>;
  /** An attachment's bytes (or its image's thumbnail), fetched with the token: never a token in a URL. */
  fetchAttachment(id: number, options?: { thumbnail?: boolean; signal?: AbortSignal }): Promise<Blob>;
  /** Mutes (`PUT`) or unmutes (`DELETE`) a room for the user: `/api/rooms/{id}/mute`. */
  setMuted(roomId: number, muted: boolean): Promise<Room>;
  /** The server's VAPID public key (`404 push_disabled` when it sends no Web Push). */
  pushKey(): Promise<{ publicKey: string }>;
  /** Stores this browser's push subscription (`PushSubscription.toJSON()`). */
  subscribePush(subscription: unknown): Promise<void>;
  /** Forgets this browser's push subscription. */
  unsubscribePush(endpoint: string): Promise<void>;
}

/**
 * Builds the API client.
 *
 * # Errors
 * Every call rejects with `ApiError` on a non-2xx answer, or with the fetch error.
 */
export function createApi(options: ApiOptions = {}): Api {
  const base = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));

  /**
   * `fetch` whose error answers reject as `ApiError` (a logged-in call's `401` reported through
   * `onUnauthorized` first), so that the package's endpoints throw what the app's throw.
   */
  const checkedFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const res = await doFetch(input, init);
    if (res.ok) return res;
    // An error body that is not JSON (a proxy's HTML page) still becomes an ApiError.
    const err = (parseJson(await res.text()) ?? {}) as { error?: unknown; message?: unknown };
    if (res.status === 401 && options.token) options.onUnauthorized?.();
    throw new ApiError(
      res.status,
      typeof err.error === 'string' ? err.error : 'http_error',
      typeof err.message === 'string' ? err.message : `HTTP ${String(res.status)}`,
      parseRetryAfter(res.headers.get('Retry-After')),
    );
  };

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    const res = await checkedFetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  // The realtime layer's endpoints as the package defines them (paths, queries), over the same
  // fetch: they are only called logged in, with the session's token.
  const realtimeEndpoints = createSotongApi({ baseUrl: base, token: options.token ?? '', fetch: checkedFetch });

  return {
    ...realtimeEndpoints,
    register: (username, password, displayName) =>
      call('POST', '/api/register', displayName ? { username, password, displayName } : { username, password }),
    login: (username, password) => call('POST', '/api/login', { username, password }),
    logout: () => call('POST', '/api/logout'),
    me: () => call('GET', '/api/me'),
    mySettings: () => call('GET', '/api/me'),
    setPresenceVisible: (presenceVisible) => call('PATCH', '/api/me', { presenceVisible }),
    searchUsers: (prefix) => call('GET', `/api/users?q=${encodeURIComponent(prefix)}`),
    searchMessages: ({ q, room, sender, before, limit }) => {
      const p = new URLSearchParams({ q });
      if (room !== undefined) p.set('room', String(room));
      if (sender !== undefined) p.set('sender', sender);
      if (before !== undefined) p.set('before', before);
      if (limit !== undefined) p.set('limit', String(limit));
      return call('GET', `/api/search?${p.toString()}`);
    },
    openDirect: (username) => call('POST', '/api/rooms/direct', { username }),
    createGroup: (name, members) => call('POST', '/api/rooms', { name, members }),
    renameRoom: (roomId, name) => call('PATCH', `/api/rooms/${String(roomId)}`, { name }),
    addMembers: (roomId, members) => call('POST', `/api/rooms/${String(roomId)}/members`, { members }),
    leaveRoom: (roomId) => call('DELETE', `/api/rooms/${String(roomId)}/members/me`),
    updateMe: (displayName) => call('PATCH', '/api/me', { displayName }),
    changePassword: (currentPassword, newPassword) => call('POST', '/api/me/password', { currentPassword, newPassword }),
    logoutEverywhere: () => call('POST', '/api/logout/all'),
    uploadAttachment: (roomId, file, name, o = {}) => uploadAttachment(roomId, file, name, { ...o, baseUrl: base, token: options.token ?? '' }),
    fetchAttachment: (id, o = {}) => fetchAttachment(id, { ...o, baseUrl: base, token: options.token ?? '', fetch: doFetch }),
    setMuted: (roomId, muted) => call(muted ? 'PUT' : 'DELETE', `/api/rooms/${String(roomId)}/mute`),
    pushKey: () => call('GET', '/api/push/key'),
    subscribePush: (subscription) => call('POST', '/api/push/subscriptions', subscription),
    unsubscribePush: (endpoint) => call('DELETE', '/api/push/subscriptions', { endpoint }),
  };
}
