//! The part of sotong's HTTP API that the realtime layer needs (contract rule 7: the rooms
//! snapshot after every connect, history pages, read marks), as an interface the app may
//! implement with its own HTTP client, and a small `fetch` implementation for apps that have
//! none. Attachments go up and down outside `SotongApi` (`uploadAttachment`,
//! `fetchAttachment`): an upload reports progress, which `fetch` cannot, and a file is fetched
//! with the bearer token, so that no token ever sits in a URL (an `<img src>` cannot send it).
import type { ReadMark } from './readMarks';
import type { Attachment, Message, Room } from './types';

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
  /**
   * Every member's read mark (`GET /api/rooms/{id}/reads`): what "seen by" is counted from.
   * Optional so that an app's own client written before it keeps working (no marks then).
   */
  listReadMarks?(roomId: number): Promise<ReadMark[]>;
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

/** How attachment calls reach the server. */
export interface AttachmentRequestOptions {
  /** Base URL of the server; empty (the default) means this page's origin. */
  baseUrl?: string;
  /** The session token, or a function giving the current one. */
  token: string | (() => string | Promise<string>);
  /** Cancels the call: it rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** Options of `uploadAttachment`. */
export interface UploadOptions extends AttachmentRequestOptions {
  /** Bytes sent so far, of `total`. */
  onProgress?(sent: number, total: number): void;
}

const tokenOf = async (token: AttachmentRequestOptions['token']): Promise<string> => (typeof token === 'function' ? await token() : token);

/** The contract's `{error, message}` of an error answer, as a `SotongHttpError`. */
function httpError(status: number, text: string): SotongHttpError {
  let err: { error?: unknown; message?: unknown } = {};
  try {
    err = (JSON.parse(text) as typeof err | null) ?? {};
  } catch {
    // not JSON (a proxy's page): the status says it
  }
  return new SotongHttpError(status, typeof err.error === 'string' ? err.error : 'http_error', typeof err.message === 'string' ? err.message : `HTTP ${String(status)}`);
}

const aborted = (): DOMException => new DOMException('the upload was cancelled', 'AbortError');

/**
 * Uploads a file to a room (`POST /api/rooms/{id}/attachments?name=…`) over `XMLHttpRequest`,
 * reporting progress; send the attachment it resolves to with a message. The server types the
 * file from its bytes, whatever `file.type` says.
 *
 * # Errors
 * Rejects with a `SotongHttpError` carrying the server's code and message (`too_large`,
 * `type_mismatch`, `bad_image`, `image_too_large`, `invalid`, `forbidden`), a `TypeError` when
 * the network fails, or an `AbortError` when `signal` aborts.
 */
export async function uploadAttachment(roomId: number, file: Blob, name: string, options: UploadOptions): Promise<Attachment> {
  const token = await tokenOf(options.token);
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(aborted());
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${options.baseUrl ?? ''}/api/rooms/${String(roomId)}/attachments?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => options.onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    const onAbort = () => xhr.abort();
    options.signal?.addEventListener('abort', onAbort);
    const done = () => options.signal?.removeEventListener('abort', onAbort);
    xhr.onload = () => {
      done();
      if (xhr.status < 200 || xhr.status > 299) return reject(httpError(xhr.status, xhr.responseText));
      try {
        resolve(JSON.parse(xhr.responseText) as Attachment);
      } catch {
        reject(httpError(xhr.status, ''));
      }
    };
    xhr.onerror = () => {
      done();
      reject(new TypeError('network error'));
    };
    xhr.onabort = () => {
      done();
      reject(aborted());
    };
    xhr.send(file);
  });
}

/**
 * Fetches an attachment (or, with `thumbnail`, its image's thumbnail) with the bearer token, as
 * a `Blob`: show it with `URL.createObjectURL` (and revoke that URL when done).
 *
 * # Errors
 * Rejects with a `SotongHttpError` (`403` not a member, `404`), or the fetch error.
 */
export async function fetchAttachment(id: number, options: AttachmentRequestOptions & { thumbnail?: boolean; fetch?: typeof fetch }): Promise<Blob> {
  const doFetch = options.fetch ?? fetch;
  const res = await doFetch(`${options.baseUrl ?? ''}/api/attachments/${String(id)}${options.thumbnail ? '/thumbnail' : ''}`, {
    headers: { Authorization: `Bearer ${await tokenOf(options.token)}` },
    signal: options.signal,
  });
  if (!res.ok) throw httpError(res.status, await res.text());
  return res.blob();
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
    if (!res.ok) throw httpError(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
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
    listReadMarks: (roomId) => call('GET', `/api/rooms/${String(roomId)}/reads`),
  };
}
