//! The part of sotong's HTTP API that the realtime layer needs (contract rule 7: the rooms
//! snapshot after every connect, history pages, read marks), as an interface the app may
//! implement with its own HTTP client, and a small `fetch` implementation for apps that have
//! none.
import type { Message, Room } from './types';

/** Query of `GET /api/rooms/{id}/messages`. */
export interface PageQuery {
  before?: number;
  after?: number;
  limit?: number;
}

/** Query of `GET /api/rooms/{id}/changes`: messages whose `rev` is above `after`. */
export interface ChangesQuery {
  after: number;
  /** At most this many (the server's default 50, maximum 200). */
  limit?: number;
}

/** The calls the sotong mode makes over HTTP; `createSotongApi` implements it, tests fake it. */
export interface SotongApi {
  listRooms(): Promise<Room[]>;
  getRoom(roomId: number): Promise<Room>;
  listMessages(roomId: number, query: PageQuery): Promise<Message[]>;
  markRead(roomId: number, seq: number): Promise<void>;
  /**
   * Messages edited or deleted after `after` (their current state, tombstones included),
   * ascending by `rev`: how a client catches up on changes it may have missed.
   */
  listChanges(roomId: number, query: ChangesQuery): Promise<Message[]>;
}

/**
 * An error answer of the API: the HTTP status and the contract's `error` code. Any error with
 * a numeric `status` (an app's own HTTP error class) is read the same way.
 */
export class SotongHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SotongHttpError';
  }
}

/** The query string of `GET /api/rooms/{id}/changes` (also for apps with their own HTTP client). */
export function changesQuery(q: ChangesQuery): string {
  const params = new URLSearchParams({ after: String(q.after) });
  if (q.limit !== undefined) params.set('limit', String(q.limit));
  return `?${params.toString()}`;
}

/** The HTTP status of an error thrown by a `SotongApi`, if it has one. */
export function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/** Options of `createSotongApi`. */
export interface SotongApiOptions {
  /** Base URL of the server; empty (the default) means this page's origin. */
  baseUrl?: string;
  /** The session token, or a function giving the current one (called for every request). */
  token: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
}

/**
 * A `SotongApi` over `fetch` with a bearer token.
 *
 * # Errors
 * Every call rejects with `SotongHttpError` on a non-2xx answer, or with the fetch error.
 */
export function createSotongApi(options: SotongApiOptions): SotongApi {
  const base = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await doFetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json ?? {}) as { error?: unknown; message?: unknown };
      throw new SotongHttpError(
        res.status,
        typeof err.error === 'string' ? err.error : 'http_error',
        typeof err.message === 'string' ? err.message : `HTTP ${String(res.status)}`,
      );
    }
    return json as T;
  }
  const query = (q: PageQuery): string => {
    const params = new URLSearchParams();
    if (q.before !== undefined) params.set('before', String(q.before));
    if (q.after !== undefined) params.set('after', String(q.after));
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    const s = params.toString();
    return s ? `?${s}` : '';
  };
  return {
    listRooms: () => call('GET', '/api/rooms'),
    getRoom: (roomId) => call('GET', `/api/rooms/${String(roomId)}`),
    listMessages: (roomId, q) => call('GET', `/api/rooms/${String(roomId)}/messages${query(q)}`),
    markRead: (roomId, seq) => call('POST', `/api/rooms/${String(roomId)}/read`, { seq }),
    listChanges: (roomId, q) => call('GET', `/api/rooms/${String(roomId)}/changes${changesQuery(q)}`),
  };
}
