//! The subscription registry: what the app *wants* to be subscribed to (intents), kept apart
//! from what the current socket *is* subscribed to. Intents are reference-counted per
//! destination, so N subscribers share one STOMP `SUBSCRIBE` and the last to leave sends the
//! `UNSUBSCRIBE` (the server refuses a second `SUBSCRIBE` to one destination anyway). On every
//! (re)connect the registry replays all intents onto the new transport (react-stomp-hooks,
//! centrifuge-js: intent, not timing).
//!
//! Releasing the last handler is deferred by one macrotask and cancelled by a new `add`, so
//! React StrictMode's mount → unmount → mount costs one `SUBSCRIBE`, not three frames.

/** A MESSAGE as the registry hands it on. */
export interface IncomingFrame {
  destination: string;
  headers: Readonly<Record<string, string>>;
  body: string;
}

/** Receives frames of one destination. */
export type FrameHandler = (frame: IncomingFrame) => void;

/** Options of one subscription intent. */
export interface SubscribeOptions {
  /**
   * Extra SUBSCRIBE headers, computed each time the SUBSCRIBE is actually sent (so a
   * `since-seq` reflects the store at reconnect time, not at mount time). The first
   * subscriber's function is used for the destination.
   */
  headers?: () => Record<string, string>;
}

/** A live STOMP subscription on one socket. */
export interface ActiveSubscription {
  unsubscribe(): void;
  /** Settles when the server confirmed the SUBSCRIBE (its RECEIPT). */
  confirmed: Promise<void>;
}

/** What the registry needs from a connected socket. */
export interface SubscriptionTransport {
  subscribe(destination: string, headers: Record<string, string>, onFrame: FrameHandler): ActiveSubscription;
}

interface Intent {
  destination: string;
  handlers: Set<FrameHandler>;
  headers?: () => Record<string, string>;
  active?: ActiveSubscription;
  releaseTimer?: ReturnType<typeof setTimeout>;
}

/** Reference-counted subscription intents, replayed on every connect. */
export class SubscriptionRegistry {
  private readonly intents = new Map<string, Intent>();
  private transport: SubscriptionTransport | null = null;

  /**
   * @param onOrphan receives frames of a destination nobody listens to any more (a MESSAGE
   * already in flight when the UNSUBSCRIBE left), so that nothing is silently lost.
   */
  constructor(private readonly onOrphan: FrameHandler) {}

  /** Adds a handler for `destination`; returns its release function (idempotent). */
  add(destination: string, handler: FrameHandler, options: SubscribeOptions = {}): () => void {
    let intent = this.intents.get(destination);
    if (!intent) {
      intent = { destination, handlers: new Set(), headers: options.headers };
      this.intents.set(destination, intent);
    }
    if (intent.releaseTimer !== undefined) {
      clearTimeout(intent.releaseTimer);
      intent.releaseTimer = undefined;
    }
    // A wrapper makes two adds of the same function two references.
    const ref: FrameHandler = (frame) => handler(frame);
    intent.handlers.add(ref);
    if (!intent.active && this.transport) this.open(intent, this.transport);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(intent, ref);
    };
  }

  /** Destinations with at least one handler (or a release still pending). */
  destinations(): string[] {
    return [...this.intents.keys()];
  }

  /** Delivers a frame to the handlers of its destination, or to the orphan handler. */
  dispatch(frame: IncomingFrame): void {
    const intent = this.intents.get(frame.destination);
    if (!intent || intent.handlers.size === 0) {
      this.onOrphan(frame);
      return;
    }
    for (const handler of [...intent.handlers]) handler(frame);
  }

  /**
   * A socket is connected: subscribes every intent on it. Resolves when the server confirmed
   * all of them.
   */
  attach(transport: SubscriptionTransport): Promise<void> {
    this.transport = transport;
    const confirmations: Promise<void>[] = [];
    for (const intent of this.intents.values()) {
      confirmations.push(this.open(intent, transport).confirmed);
    }
    return Promise.all(confirmations).then(() => undefined);
  }

  /** The socket is gone: its subscriptions died with it, the intents stay. */
  detach(): void {
    this.transport = null;
    for (const intent of this.intents.values()) intent.active = undefined;
  }

  private open(intent: Intent, transport: SubscriptionTransport): ActiveSubscription {
    const headers = intent.headers ? intent.headers() : {};
    intent.active = transport.subscribe(intent.destination, headers, (frame) => this.dispatch(frame));
    return intent.active;
  }

  private release(intent: Intent, ref: FrameHandler): void {
    intent.handlers.delete(ref);
    if (intent.handlers.size > 0 || intent.releaseTimer !== undefined) return;
    intent.releaseTimer = setTimeout(() => {
      intent.releaseTimer = undefined;
      if (intent.handlers.size > 0) return;
      intent.active?.unsubscribe();
      intent.active = undefined;
      this.intents.delete(intent.destination);
    }, 0);
  }
}
