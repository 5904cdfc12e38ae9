//! The one STOMP connection of a logged-in session, usable without React.
//!
//! It owns:
//! - the socket lifecycle, as a small state machine (`disconnected | connecting | connected`)
//!   with its own reconnect loop: exponential backoff with jitter, reset once connected; a
//!   fresh `@stomp/stompjs` `Client` per attempt, so no stale callback can touch the state;
//! - the auth path: the token (or the CONNECT headers of a plain broker) is asked for before
//!   every attempt, so a token provider can refresh it; an `ERROR` whose `message` is
//!   `unauthorized` or `token_expired` makes one more attempt at once with a token asked for
//!   again (`expired: true`), and after a second refusal stops the loop and calls
//!   `onAuthFailure` instead of reconnecting forever;
//! - the `SubscriptionRegistry` (intents, replayed with fresh headers on every connect);
//! - the outbox of reliable sends: each is sent with its `client-msg-id` and a `receipt`, kept
//!   until the RECEIPT (or an error with that `receipt-id`, on `/user/queue/errors` or in an
//!   `ERROR` frame) arrives, and sent again with the same `client-msg-id` after a reconnect,
//!   but only once the server confirmed every re-SUBSCRIBE, so the sender is subscribed before
//!   its echo can exist;
//! - on sotong, `/user/queue/errors`, always subscribed: errors that carry a `receipt-id`
//!   settle the matching send, the rest go to `onServerError` listeners (a plain broker has no
//!   such queue: `errorsDestination: null`).
import { Client, type IFrame, type IMessage, type IStompSocket } from '@stomp/stompjs';
import type { ErrorEvent } from './types';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import {
  SubscriptionRegistry,
  type ActiveSubscription,
  type FrameHandler,
  type IncomingFrame,
  type SubscribeOptions,
  type SubscriptionTransport,
} from './registry';

/** The connection's state machine. */
export type ConnectionStatus = 'disconnected' | 'connecting' | 'connected';

/** `ERROR` codes after which reconnecting with the same token is pointless. */
export const AUTH_ERROR_CODES: readonly string[] = ['unauthorized', 'token_expired'];

/** The fixed destination of this connection's non-fatal errors. */
export const ERRORS_DESTINATION = '/user/queue/errors';

/**
 * Gives the session token for a connect attempt. `expired` is true when the server has just
 * refused the previous token: the provider should refresh it. A provider that rejects counts
 * as a failed attempt: the connection tries again after the backoff delay.
 */
export type TokenProvider = (context: { expired: boolean }) => string | Promise<string>;

/** Options of a `Connection`. */
export interface ConnectionOptions {
  /**
   * Session token, or a provider of it, sent as `Authorization: Bearer` (and as `passcode`).
   * Absent for a plain broker that authenticates with `connectHeaders` (`login`, `passcode`).
   */
  token?: string | TokenProvider;
  /** Extra CONNECT headers (a plain broker's `login`, `passcode`, `host`). */
  connectHeaders?: Record<string, string>;
  /**
   * The server's queue of non-fatal errors, always subscribed. Defaults to sotong's
   * `/user/queue/errors`; `null` for a broker without one.
   */
  errorsDestination?: string | null;
  /** `ERROR` messages that mean the credentials were refused (defaults to `AUTH_ERROR_CODES`). */
  authErrorCodes?: readonly string[];
  /** WebSocket URL; defaults to `ws(s)://<this host>/ws`. */
  url?: string;
  /** Creates the socket (tests pass a fake broker's socket). */
  webSocketFactory?: () => IStompSocket;
  backoff?: BackoffOptions;
  /** Heart-beat period asked for, both ways, in ms (0 disables). */
  heartbeatMs?: number;
  /** How long to wait for re-SUBSCRIBE receipts before flushing the outbox anyway. */
  subscribeReceiptTimeoutMs?: number;
  /** Called once when the server rejects the token; the connection then stays down. */
  onAuthFailure?: (code: string) => void;
  /** Random source for the jitter (tests make it deterministic). */
  random?: () => number;
  debug?: (line: string) => void;
}

/** A SEND that must reach the server exactly once (idempotent by `client-msg-id`). */
export interface ReliableSend {
  destination: string;
  body: string;
  clientMsgId: string;
  /** The RECEIPT's headers (`message-id`, `seq`). */
  onReceipt(headers: Readonly<Record<string, string>>): void;
  /** The server refused it (body of the `/user/queue/errors` event). */
  onError(error: ErrorEvent): void;
}

interface OutboxEntry extends ReliableSend {
  receiptId?: string;
}

function defaultUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/ws`;
}

function toFrame(message: IMessage): IncomingFrame {
  return { destination: message.headers.destination ?? '', headers: message.headers, body: message.body };
}

/** The one STOMP connection. See the module docs. */
export class Connection {
  private readonly options: ConnectionOptions;
  private readonly registry: SubscriptionRegistry;
  private readonly statusListeners = new Set<() => void>();
  private readonly connectedListeners = new Set<() => void>();
  private readonly errorListeners = new Set<(error: ErrorEvent) => void>();
  private readonly outbox = new Map<string, OutboxEntry>();
  private readonly receipts = new Map<string, OutboxEntry>();
  private readonly subscribeReceipts = new Map<string, () => void>();
  private orphanHandler: FrameHandler = () => {};
  private currentStatus: ConnectionStatus = 'disconnected';
  private client: Client | null = null;
  private generation = 0;
  private counter = 0;
  private attempt = 0;
  private wanted = false;
  private paused = false;
  private ready = false;
  private lastErrorCode: string | null = null;
  /** The last attempt was refused for its token; the next asks for a fresh one. */
  private tokenRefused = false;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private stopTimer?: ReturnType<typeof setTimeout>;
  /** Flushes the outbox if the re-SUBSCRIBE receipts never come. */
  private flushTimer?: ReturnType<typeof setTimeout>;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.registry = new SubscriptionRegistry((frame) => this.orphanHandler(frame));
    const errors = options.errorsDestination === undefined ? ERRORS_DESTINATION : options.errorsDestination;
    if (errors !== null) this.registry.add(errors, (frame) => this.onErrorFrame(frame));
  }

  /** The current state. */
  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** True once connected and every re-SUBSCRIBE of this connection is confirmed. */
  get isReady(): boolean {
    return this.ready;
  }

  /** Listens to status changes (shaped for `useSyncExternalStore`). */
  subscribeStatus = (listener: () => void): (() => void) => {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  };

  /** Called after each successful CONNECT (the first and every reconnect). */
  onConnected(listener: () => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  /** Non-fatal errors from `/user/queue/errors` that settle no reliable send. */
  onServerError(listener: (error: ErrorEvent) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Receives MESSAGE frames whose destination no longer has a subscriber. */
  setOrphanHandler(handler: FrameHandler): void {
    this.orphanHandler = handler;
  }

  /** Records a subscription intent; see `SubscriptionRegistry.add`. */
  subscribe(destination: string, handler: FrameHandler, options?: SubscribeOptions): () => void {
    return this.registry.add(destination, handler, options);
  }

  /** Destinations currently wanted. */
  destinations(): string[] {
    return this.registry.destinations();
  }

  /**
   * Fire-and-forget SEND (typing, read marks): dropped when not connected.
   * Returns whether it was sent.
   */
  publish(destination: string, body: string, headers: Record<string, string> = {}): boolean {
    const client = this.client;
    if (!client || this.currentStatus !== 'connected') return false;
    client.publish({ destination, body, headers: { 'content-type': 'application/json', ...headers } });
    return true;
  }

  /** Queues a reliable send; it goes out now if the connection is ready, else after the next resubscribe. */
  sendReliable(send: ReliableSend): void {
    const entry: OutboxEntry = { ...send };
    this.outbox.set(send.clientMsgId, entry);
    if (this.ready) this.transmit(entry);
  }

  /**
   * The send is known to have arrived by other means than its RECEIPT (a plain broker's echo
   * of it, on a broker that sends no RECEIPTs): it leaves the outbox, so a reconnect does not
   * publish it again.
   */
  settle(clientMsgId: string): void {
    const entry = this.outbox.get(clientMsgId);
    if (!entry) return;
    this.outbox.delete(clientMsgId);
    if (entry.receiptId !== undefined) this.receipts.delete(entry.receiptId);
  }

  /** Sends of the outbox not yet confirmed. */
  pendingSends(): number {
    return this.outbox.size;
  }

  /** Starts (or keeps) the connection; cancels a `deactivate` of the same tick. */
  activate(): void {
    if (this.stopTimer !== undefined) {
      clearTimeout(this.stopTimer);
      this.stopTimer = undefined;
    }
    if (this.wanted) return;
    this.wanted = true;
    this.attempt = 0;
    if (typeof window !== 'undefined') {
      window.addEventListener('offline', this.onOffline);
      window.addEventListener('online', this.onOnline);
      this.paused = typeof navigator !== 'undefined' && navigator.onLine === false;
    }
    if (this.paused) this.setStatus('disconnected');
    else this.connect();
  }

  /**
   * Stops the connection at the end of this tick, unless `activate` is called first (React
   * StrictMode runs effect cleanup and setup back to back; the socket survives that).
   */
  deactivate(): void {
    if (!this.wanted || this.stopTimer !== undefined) return;
    this.stopTimer = setTimeout(() => {
      this.stopTimer = undefined;
      this.shutdown();
    }, 0);
  }

  private shutdown(): void {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.stopWatchingNetwork();
    const client = this.client;
    this.dropSocketState();
    if (client) void client.deactivate();
    this.setStatus('disconnected');
  }

  /**
   * Forgets the browser's `online`/`offline` events. Called whenever the connection stops
   * wanting to be up (a shutdown, an auth failure), so that a stopped connection is not kept
   * alive by `window`.
   */
  private stopWatchingNetwork(): void {
    if (typeof window === 'undefined') return;
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
  }

  private readonly onOffline = (): void => {
    this.paused = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.dropSocketState();
    if (client) void client.deactivate({ force: true });
    this.setStatus('disconnected');
  };

  private readonly onOnline = (): void => {
    if (!this.paused) return;
    this.paused = false;
    if (!this.wanted) return;
    this.attempt = 0;
    this.connect();
  };

  private connect(): void {
    clearTimeout(this.retryTimer);
    const generation = ++this.generation;
    this.lastErrorCode = null;
    this.setStatus('connecting');
    this.connectHeaders().then(
      (headers) => {
        if (generation === this.generation && this.wanted && !this.paused) this.open(generation, headers);
      },
      (error: unknown) => {
        if (generation !== this.generation || !this.wanted || this.paused) return;
        this.options.debug?.(`no token for this attempt: ${String(error)}`);
        this.retryLater();
      },
    );
  }

  /** The CONNECT headers of the next attempt, with a token asked for now. */
  private async connectHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...this.options.connectHeaders };
    const { token } = this.options;
    if (token === undefined) return headers;
    const value = typeof token === 'function' ? await token({ expired: this.tokenRefused }) : token;
    return { ...headers, Authorization: `Bearer ${value}`, passcode: value };
  }

  private open(generation: number, connectHeaders: Record<string, string>): void {
    const heartbeat = this.options.heartbeatMs ?? 10_000;
    const client = new Client({
      ...(this.options.webSocketFactory
        ? { webSocketFactory: this.options.webSocketFactory }
        : { brokerURL: this.options.url ?? defaultUrl() }),
      connectHeaders,
      reconnectDelay: 0,
      connectionTimeout: 10_000,
      heartbeatIncoming: heartbeat,
      heartbeatOutgoing: heartbeat,
      debug: this.options.debug ?? (() => {}),
      onConnect: () => {
        if (generation === this.generation) this.onConnect(client, generation);
      },
      onStompError: (frame: IFrame) => {
        if (generation !== this.generation) return;
        this.lastErrorCode = frame.headers.message ?? 'error';
        this.settleRefusedSend(frame);
      },
      onWebSocketClose: () => {
        if (generation === this.generation) this.onClose(client);
      },
      onUnhandledMessage: (message: IMessage) => {
        if (generation === this.generation) this.registry.dispatch(toFrame(message));
      },
    });
    this.client = client;
    client.activate();
  }

  private onConnect(client: Client, generation: number): void {
    this.attempt = 0;
    this.tokenRefused = false;
    this.setStatus('connected');
    let flushed = false;
    const flush = () => {
      if (flushed || generation !== this.generation) return;
      flushed = true;
      clearTimeout(this.flushTimer);
      this.ready = true;
      for (const entry of this.outbox.values()) this.transmit(entry);
    };
    // A server that never confirms a SUBSCRIBE must not hold sends back forever.
    this.flushTimer = setTimeout(() => {
      this.options.debug?.('re-SUBSCRIBE receipts timed out; flushing the outbox');
      flush();
    }, this.options.subscribeReceiptTimeoutMs ?? 5_000);
    void this.registry.attach(this.transportFor(client)).then(flush);
    for (const listener of [...this.connectedListeners]) listener();
  }

  private transportFor(client: Client): SubscriptionTransport {
    return {
      subscribe: (destination, headers, onFrame): ActiveSubscription => {
        const receipt = `sub-${this.generation}-${++this.counter}`;
        const confirmed = new Promise<void>((resolve) => {
          this.subscribeReceipts.set(receipt, resolve);
          client.watchForReceipt(receipt, () => {
            this.subscribeReceipts.delete(receipt);
            resolve();
          });
        });
        const subscription = client.subscribe(destination, (message) => onFrame(toFrame(message)), { ...headers, receipt });
        return {
          confirmed,
          unsubscribe: () => {
            if (client === this.client && client.connected) subscription.unsubscribe();
          },
        };
      },
    };
  }

  private transmit(entry: OutboxEntry): void {
    const client = this.client;
    if (!client || !this.ready) return;
    if (entry.receiptId) this.receipts.delete(entry.receiptId);
    const receiptId = `send-${this.generation}-${++this.counter}`;
    entry.receiptId = receiptId;
    this.receipts.set(receiptId, entry);
    client.watchForReceipt(receiptId, (frame) => {
      this.receipts.delete(receiptId);
      if (this.outbox.get(entry.clientMsgId) !== entry) return;
      this.outbox.delete(entry.clientMsgId);
      entry.onReceipt(frame.headers);
    });
    client.publish({
      destination: entry.destination,
      body: entry.body,
      headers: { 'content-type': 'application/json', 'client-msg-id': entry.clientMsgId, receipt: receiptId },
    });
  }


  private onErrorFrame(frame: IncomingFrame): void {
    let error: ErrorEvent;
    try {
      error = JSON.parse(frame.body) as ErrorEvent;
    } catch {
      error = { type: 'error', code: 'invalid', message: frame.body };
    }
    const receiptId = frame.headers['receipt-id'];
    if (receiptId !== undefined) {
      const entry = this.receipts.get(receiptId);
      if (entry) {
        this.receipts.delete(receiptId);
        if (this.outbox.get(entry.clientMsgId) === entry) this.outbox.delete(entry.clientMsgId);
        entry.onError(error);
        return;
      }
      const subscribed = this.subscribeReceipts.get(receiptId);
      if (subscribed) {
        this.subscribeReceipts.delete(receiptId);
        subscribed();
      }
    }
    for (const listener of [...this.errorListeners]) listener(error);
  }

  /**
   * A fatal `ERROR` that names a reliable send by its `receipt-id` (a plain broker refusing a
   * destination): that send fails instead of being sent again after the reconnect, forever.
   */
  private settleRefusedSend(frame: IFrame): void {
    const receiptId = frame.headers['receipt-id'];
    const entry = receiptId === undefined ? undefined : this.receipts.get(receiptId);
    if (!entry || receiptId === undefined) return;
    this.receipts.delete(receiptId);
    if (this.outbox.get(entry.clientMsgId) === entry) this.outbox.delete(entry.clientMsgId);
    entry.onError({ type: 'error', code: frame.headers.message ?? 'error', message: frame.body });
  }

  private onClose(client: Client): void {
    if (client !== this.client) return;
    this.dropSocketState();
    void client.deactivate();
    if (!this.wanted || this.paused) {
      this.setStatus('disconnected');
      return;
    }
    const code = this.lastErrorCode;
    if (code !== null && (this.options.authErrorCodes ?? AUTH_ERROR_CODES).includes(code)) {
      // A token provider gets one chance to refresh; a fixed token, or a refreshed one that
      // is refused again, ends the session.
      if (typeof this.options.token === 'function' && !this.tokenRefused) {
        this.tokenRefused = true;
        this.connect();
        return;
      }
      this.wanted = false;
      this.tokenRefused = false;
      this.stopWatchingNetwork();
      this.setStatus('disconnected');
      this.options.onAuthFailure?.(code);
      return;
    }
    this.retryLater();
  }

  /** Schedules the next attempt after the backoff delay. */
  private retryLater(): void {
    const delay = backoffDelay(this.attempt++, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    this.setStatus('connecting');
    this.retryTimer = setTimeout(() => {
      if (this.wanted && !this.paused) this.connect();
    }, delay);
  }

  /** Forgets everything tied to the socket that is gone (the outbox itself stays). */
  private dropSocketState(): void {
    this.generation++;
    clearTimeout(this.flushTimer);
    this.client = null;
    this.ready = false;
    this.receipts.clear();
    for (const resolve of this.subscribeReceipts.values()) resolve();
    this.subscribeReceipts.clear();
    this.registry.detach();
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    for (const listener of [...this.statusListeners]) listener();
  }
}
