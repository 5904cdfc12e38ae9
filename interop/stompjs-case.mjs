// One interop case driven by @stomp/stompjs 7 over the `ws` package, with the fixture (see
// lib.mjs) as JSON in INTEROP_FIXTURE:
//   node stompjs-case.mjs VERSION text|binary   the whole flow of README.md on that version
//   node stompjs-case.mjs VERSION acks          two subscriptions to the room, client acks, ACK/NACK
//   node stompjs-case.mjs defaults              stock options (1.2, heart-beats 10000,10000), idle
//   node stompjs-case.mjs unsupported           asks for STOMP 2.0 only: ERROR names the versions
// Prints `step: …` on stderr as it goes, one `FAIL: …` line on stdout per failed check, and
// exits 1 when any check failed. stomppy_case.py does the same with stomp.py.
import { Client, Versions } from '@stomp/stompjs';
import WebSocket from 'ws';

// stompjs opens `brokerURL` with the global WebSocket; Node 20 has none, `ws` is the stock one.
Object.assign(globalThis, { WebSocket });

const [mode, frames] = process.argv.slice(2);
const stock = mode === 'defaults';
const unsupported = mode === 'unsupported';
const acks = frames === 'acks';
const version = stock ? '1.2' : mode;
const fixture = JSON.parse(process.env.INTEROP_FIXTURE ?? 'null');
const known = stock || unsupported || (['1.0', '1.1', '1.2'].includes(version) && ['text', 'binary', 'acks'].includes(frames));
if (!fixture || !known) {
  console.error('usage: INTEROP_FIXTURE=JSON node stompjs-case.mjs 1.0|1.1|1.2 text|binary|acks | defaults | unsupported');
  process.exit(2);
}
const IDLE_MS = Number(process.env.INTEROP_IDLE_MS ?? 25_000);
const WAIT_MS = Number(process.env.INTEROP_WAIT_MS ?? 10_000);
const { roomId, storedBefore, alice, bob } = fixture;
const topic = `/topic/rooms/${roomId}`;
const failures = [];

function step(name) {
  console.error(`step: ${name}`);
}

function check(ok, what) {
  if (!ok) {
    failures.push(what);
    console.log(`FAIL: ${what}`);
  }
}

/**
 * Resolves `true` once `predicate()` holds (checked after each event of `connection`), or
 * `false` after `ms`; rejects as soon as the connection fails (an ERROR frame, a close).
 */
function watch(connection, what, predicate, ms) {
  return new Promise((resolve, reject) => {
    const settle = (outcome) => {
      clearTimeout(timer);
      connection.waiters.delete(poll);
      outcome();
    };
    const poll = () => {
      if (connection.fatal) settle(() => reject(new Error(`${what}: ${connection.fatal}`)));
      else if (predicate()) settle(() => resolve(true));
    };
    const timer = setTimeout(() => settle(() => resolve(false)), ms);
    connection.waiters.add(poll);
    poll();
  });
}

/** Waits up to WAIT_MS for `predicate()`; rejects when it does not come. */
async function waitFor(connection, what, predicate) {
  if (!(await watch(connection, what, predicate, WAIT_MS))) {
    throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
  }
}

/**
 * Runs one case's steps; a thrown error is a failed check. Closes the clients, then exits 1
 * when any check failed.
 */
async function runCase(clients, steps) {
  try {
    await steps();
  } catch (error) {
    check(false, error.message);
  } finally {
    for (const client of clients) {
      client.onWebSocketClose = () => {};
      await client.deactivate({ force: true });
    }
  }
  process.exit(failures.length === 0 ? 0 : 1);
}

/** One user's stompjs client with everything it received, by route. */
class Connection {
  constructor(user) {
    this.user = user;
    this.waiters = new Set();
    this.receipts = new Map();
    /** The seqs received so far, by route; a receipt keeps the snapshot taken when it came. */
    this.snapshot = () => ({ topic: seqsOf(this.topic), notifications: seqsOf(this.notifications) });
    this.topic = [];
    this.notifications = [];
    this.errors = [];
    this.connected = null;
    this.disconnectReceipt = null;
    this.fatal = null;
    this.heartBeats = { sent: 0, received: 0 };
    const connectHeaders = { Authorization: `Bearer ${user.token}` };
    // Only the README's two settings; stompjs logs each heart-beat it sends or gets.
    const stockConfig = {
      brokerURL: fixture.wsUrl,
      connectHeaders,
      debug: (line) => {
        if (line === '>>> PING') this.event(() => this.heartBeats.sent++);
        if (line === '<<< PONG') this.event(() => this.heartBeats.received++);
      },
    };
    // Otherwise stock apart from the version and the frame kind (default heart-beats
    // 10000,10000), a named DISCONNECT receipt, and no reconnects: a dropped connection is a
    // failure here.
    this.client = new Client(
      stock
        ? stockConfig
        : {
            ...stockConfig,
            stompVersions: new Versions([version]),
            forceBinaryWSFrames: frames === 'binary',
            disconnectHeaders: { receipt: `bye-${user.username}` },
            reconnectDelay: 0,
          },
    );
    this.client.onConnect = (frame) => this.event(() => (this.connected = frame));
    this.client.onStompError = (frame) =>
      this.event(() => (this.fatal = `ERROR frame: ${frame.headers.message} ${frame.body}`));
    this.client.onWebSocketClose = (event) =>
      this.event(() => {
        if (!this.disconnectReceipt) this.fatal ??= `socket closed (${event.code}) before the DISCONNECT receipt`;
      });
    this.client.onDisconnect = (frame) => this.event(() => (this.disconnectReceipt = frame));
  }

  event(record) {
    record();
    for (const waiter of [...this.waiters]) waiter();
  }

  async connect() {
    this.client.activate();
    await waitFor(this, `${this.user.username}: CONNECTED`, () => this.connected);
    const negotiated = this.connected.headers.version;
    // STOMP 1.0 servers need not send `version`; 1.1 and 1.2 must.
    check(
      negotiated === version || (version === '1.0' && negotiated === undefined),
      `${this.user.username}: CONNECTED version is ${negotiated}, asked for ${version}`,
    );
  }

  /** Sends a frame with a `receipt` and waits for the RECEIPT; returns it. */
  async withReceipt(receipt, transmit) {
    // What had arrived by the RECEIPT: the sender's own copy must be there (contract rule 1).
    const onReceipt = (frame) => this.receipts.set(receipt, Object.assign(frame, { seenBefore: this.snapshot() }));
    this.client.watchForReceipt(receipt, (frame) => this.event(() => onReceipt(frame)));
    transmit({ receipt });
    // An error event for the frame (same receipt-id) fails at once, with its reason.
    const refused = () => this.errors.find((m) => m.headers['receipt-id'] === receipt)?.body;
    await waitFor(this, `${this.user.username}: RECEIPT ${receipt}`, () => this.receipts.has(receipt) || refused());
    if (!this.receipts.has(receipt)) {
      throw new Error(`${this.user.username}: ${receipt} refused with error event ${JSON.stringify(refused())}`);
    }
    return this.receipts.get(receipt);
  }

  subscribe(destination, inbox, headers) {
    const onMessage = (message) => this.event(() => inbox.push({ headers: message.headers, body: JSON.parse(message.body) }));
    let subscription;
    return this.withReceipt(`sub-${destination}`, (receipt) => {
      subscription = this.client.subscribe(destination, onMessage, { ...headers, ...receipt });
    }).then(() => subscription);
  }

  /** SEND to the room with a receipt; returns the RECEIPT. */
  send(text, clientMsgId) {
    return this.withReceipt(`send-${clientMsgId}`, (receipt) =>
      this.client.publish({
        destination: `/app/rooms/${roomId}`,
        body: JSON.stringify({ text }),
        headers: { 'content-type': 'application/json', 'client-msg-id': clientMsgId, ...receipt },
      }),
    );
  }

  async disconnect() {
    // deactivate() sends DISCONNECT with the receipt header and settles once the socket closes;
    // the receipt is what this checks, and runCase closes whatever is left.
    void this.client.deactivate();
    await waitFor(this, `${this.user.username}: DISCONNECT receipt`, () => this.disconnectReceipt);
    // With stock options stompjs names the receipt itself (`close-N`) and matches it.
    check(
      stock || this.disconnectReceipt.headers['receipt-id'] === `bye-${this.user.username}`,
      `${this.user.username}: DISCONNECT RECEIPT has receipt-id ${this.disconnectReceipt.headers['receipt-id']}`,
    );
  }
}

const seqsOf = (inbox) => inbox.filter((m) => m.body.type === 'message').map((m) => m.body.message.seq);
const hasSeq = (inbox, seq) => () => seqsOf(inbox).includes(seq);

/** The RECEIPT of a SEND: the stored seq, a message-id, and the own copy on each route before it. */
function checkReceipt(receipt, seq, who, ...routes) {
  check(receipt.headers.seq === String(seq), `${who}: RECEIPT seq is ${receipt.headers.seq}, expected ${seq}`);
  check(Boolean(receipt.headers['message-id']), `${who}: RECEIPT has no message-id`);
  for (const route of routes) {
    check(
      receipt.seenBefore[route]?.includes(seq),
      `${who}: the RECEIPT for seq ${seq} came before the own copy on ${route} (contract rule 1: the copy comes first)`,
    );
  }
}

function runDefaults() {
  const a = new Connection(alice);
  return runCase([a.client], async () => {
    step('alice connects with stock options and subscribes to her errors and the room');
    await a.connect();
    await a.subscribe('/user/queue/errors', a.errors);
    await a.subscribe(topic, a.topic);
    const first = storedBefore + 1;
    checkReceipt(await a.send('before the pause', `${alice.username}-1`), first, 'alice', 'topic');
    await waitFor(a, `own message seq ${first} on the topic`, hasSeq(a.topic, first));

    step(`alice stays idle for ${IDLE_MS} ms, longer than twice the agreed heart-beat interval`);
    await watch(a, 'idle', () => false, IDLE_MS);

    step('alice is still connected: a send gets its receipt and comes back on the topic');
    const second = first + 1;
    checkReceipt(await a.send('after the pause', `${alice.username}-2`), second, 'alice', 'topic');
    await waitFor(a, `own message seq ${second} on the topic`, hasSeq(a.topic, second));
    check(a.heartBeats.received >= 1, `no heart-beat from the server in ${IDLE_MS} ms (CONNECTED heart-beat ${a.connected.headers['heart-beat']})`);
    check(a.heartBeats.sent >= 1, `stompjs sent no heart-beat in ${IDLE_MS} ms`);
    await a.disconnect();
    check(
      JSON.stringify(seqsOf(a.topic)) === JSON.stringify([first, second]),
      `room topic got seq ${JSON.stringify(seqsOf(a.topic))}, expected ${JSON.stringify([first, second])}`,
    );
    check(a.errors.length === 0, `error events: ${JSON.stringify(a.errors.map((m) => m.body))}`);
  });
}

function runAcks() {
  const a = new Connection(alice);
  // STOMP 1.0 knows ack modes auto and client only.
  const modes = version === '1.0' ? ['client', 'auto'] : ['client-individual', 'client'];
  const inboxes = [[], []];
  const seqs = (inbox) => inbox.map((m) => Number(m.headers.seq));
  a.snapshot = () => inboxes.map(seqs);
  return runCase([a.client], async () => {
    step(`alice connects and subscribes twice to the room, ack: ${modes.join(' and ack: ')}`);
    await a.connect();
    await a.subscribe('/user/queue/errors', a.errors);
    for (const [index, ack] of modes.entries()) {
      await a.withReceipt(`sub-room-${index}`, (receipt) =>
        a.client.subscribe(topic, (message) => a.event(() => inboxes[index].push(message)), { ack, ...receipt }),
      );
    }

    const first = storedBefore + 1;
    step('alice sends: one MESSAGE per subscription, and each client-ack MESSAGE can be ACKed');
    checkReceipt(await a.send('to both subscriptions', `${alice.username}-1`), first, 'alice', 0, 1);
    for (const index of [0, 1]) {
      await waitFor(a, `seq ${first} on subscription ${index} (ack: ${modes[index]})`, () => seqs(inboxes[index]).includes(first));
    }
    for (const [index, ack] of modes.entries()) {
      if (ack === 'auto') continue;
      const message = inboxes[index][0];
      if (version === '1.2') check(Boolean(message.headers.ack), `ack: ${ack} MESSAGE has no ack header (STOMP 1.2)`);
      await a.withReceipt(`ack-${index}-${first}`, (receipt) => message.ack(receipt));
    }

    const second = first + 1;
    // STOMP 1.0 has no NACK: there the second message is ACKed too.
    const verdict = version === '1.0' ? 'ack' : 'nack';
    step(`alice sends again: ${verdict.toUpperCase()} on ack: ${modes[0]}, ACK on ack: ${modes[1]}`);
    checkReceipt(await a.send(`${verdict} me`, `${alice.username}-2`), second, 'alice', 0, 1);
    for (const index of [0, 1]) {
      await waitFor(a, `seq ${second} on subscription ${index}`, () => seqs(inboxes[index]).includes(second));
    }
    const judged = inboxes[0].find((m) => Number(m.headers.seq) === second);
    await a.withReceipt(`${verdict}-0-${second}`, (receipt) => judged[verdict](receipt));
    if (modes[1] !== 'auto') {
      const acked = inboxes[1].find((m) => Number(m.headers.seq) === second);
      await a.withReceipt(`ack-1-${second}`, (receipt) => acked.ack(receipt));
    }

    await a.disconnect();
    check(
      JSON.stringify(seqs(inboxes[1])) === JSON.stringify([first, second]),
      `subscription 1 (ack: ${modes[1]}) got seq ${JSON.stringify(seqs(inboxes[1]))}, expected [${first},${second}]`,
    );
    // NACK does not redeliver (docs/contract.md, ack modes).
    check(
      JSON.stringify(seqs(inboxes[0])) === JSON.stringify([first, second]),
      `subscription 0 (ack: ${modes[0]}) got seq ${JSON.stringify(seqs(inboxes[0]))}, expected [${first},${second}]`,
    );
    check(a.errors.length === 0, `error events: ${JSON.stringify(a.errors.map((m) => m.body))}`);
  });
}

function runUnsupported() {
  const state = { waiters: new Set(), fatal: null, error: null, closed: false };
  const event = (record) => {
    record();
    for (const waiter of [...state.waiters]) waiter();
  };
  // Asked for 2.0 only, stompjs would also ask for the subprotocol `v20.stomp`, which no
  // server offers; the STOMP-level answer is what this checks, so the socket asks for none.
  const client = new Client({
    webSocketFactory: () => new WebSocket(fixture.wsUrl),
    stompVersions: new Versions(['2.0']),
    connectHeaders: { Authorization: `Bearer ${alice.token}` },
    reconnectDelay: 0,
  });
  client.onConnect = () => event(() => (state.fatal = 'CONNECTED to a client that asked for STOMP 2.0 only'));
  client.onStompError = (frame) => event(() => (state.error = frame));
  client.onWebSocketClose = () => event(() => (state.closed = true));
  return runCase([client], async () => {
    step('alice asks for STOMP 2.0 only: ERROR with a version header naming 1.0, 1.1 and 1.2, then close');
    client.activate();
    await waitFor(state, 'an ERROR frame', () => state.error);
    const offered = (state.error.headers.version ?? '').split(',').map((v) => v.trim());
    check(
      ['1.0', '1.1', '1.2'].every((v) => offered.includes(v)),
      `ERROR version header is ${JSON.stringify(state.error.headers.version)}, expected the supported versions 1.0,1.1,1.2`,
    );
    await waitFor(state, 'the socket to close after the ERROR', () => state.closed);
  });
}

function run() {
  const a = new Connection(alice);
  const b = new Connection(bob);
  return runCase([a.client, b.client], async () => {
    step('both users connect and subscribe to their notifications, alice also to her errors');
    await a.connect();
    await b.connect();
    await a.subscribe('/user/queue/errors', a.errors);
    await a.subscribe('/user/queue/notifications', a.notifications);
    await b.subscribe('/user/queue/notifications', b.notifications);

    const firstFromBob = storedBefore + 1;
    step("bob's message reaches alice as a notification while she does not view the room");
    checkReceipt(await b.send('bob one 소통', `${bob.username}-1`), firstFromBob, 'bob', 'notifications');
    await waitFor(a, `notification of seq ${firstFromBob}`, hasSeq(a.notifications, firstFromBob));
    const notified = a.notifications.find((m) => m.body.message?.seq === firstFromBob)?.body;
    check(notified.roomId === roomId, `notification roomId is ${notified.roomId}, expected ${roomId}`);
    check(notified.message.text === 'bob one 소통', `notification text is ${JSON.stringify(notified.message.text)}`);
    check(notified.message.sender.username === bob.username, `notification sender is ${notified.message.sender.username}`);
    check(typeof notified.unread === 'number' && notified.unread >= 1, `notification unread is ${notified.unread}`);

    step('alice subscribes to the room with since-seq: 1 and gets the stored messages after 1, in order');
    const room = await a.subscribe(topic, a.topic, { 'since-seq': '1' });
    const replayed = Array.from({ length: firstFromBob - 1 }, (_, i) => i + 2);
    await waitFor(a, `replay of seq ${replayed}`, () => seqsOf(a.topic).length >= replayed.length);
    check(
      JSON.stringify(seqsOf(a.topic)) === JSON.stringify(replayed),
      `since-seq 1 replayed seq ${JSON.stringify(seqsOf(a.topic))}, expected ${JSON.stringify(replayed)}`,
    );

    const own = firstFromBob + 1;
    step('alice sends with a receipt: the RECEIPT carries seq, her message comes back once on the topic');
    checkReceipt(await a.send('alice live 소통', `${alice.username}-1`), own, 'alice', 'topic');
    await waitFor(a, `own message seq ${own} on the topic`, hasSeq(a.topic, own));
    const echoed = a.topic.find((m) => m.body.message?.seq === own);
    check(echoed.body.message.text === 'alice live 소통', `own message text is ${JSON.stringify(echoed.body.message.text)}`);
    check(echoed.body.message.clientMsgId === `${alice.username}-1`, `own message clientMsgId is ${echoed.body.message.clientMsgId}`);

    const secondFromBob = own + 1;
    step("bob's second message reaches alice on the room topic, which she now views");
    checkReceipt(await b.send('bob two', `${bob.username}-2`), secondFromBob, 'bob', 'notifications');
    await waitFor(a, `topic message seq ${secondFromBob}`, hasSeq(a.topic, secondFromBob));

    const thirdFromBob = secondFromBob + 1;
    step('alice unsubscribes from the room; bob\'s third message comes as a notification again');
    await a.withReceipt('unsub-room', (receipt) => room.unsubscribe(receipt));
    checkReceipt(await b.send('bob three', `${bob.username}-3`), thirdFromBob, 'bob', 'notifications');
    await waitFor(a, `notification of seq ${thirdFromBob}`, hasSeq(a.notifications, thirdFromBob));

    step('both disconnect with a receipt');
    await a.disconnect();
    await b.disconnect();

    step('every message reached alice exactly once, on the route it should');
    const expectedTopic = [...replayed, own, secondFromBob];
    check(
      JSON.stringify(seqsOf(a.topic)) === JSON.stringify(expectedTopic),
      `room topic got seq ${JSON.stringify(seqsOf(a.topic))}, expected ${JSON.stringify(expectedTopic)}`,
    );
    const expectedNotified = [firstFromBob, thirdFromBob];
    check(
      JSON.stringify(seqsOf(a.notifications)) === JSON.stringify(expectedNotified),
      `notifications got seq ${JSON.stringify(seqsOf(a.notifications))}, expected ${JSON.stringify(expectedNotified)}`,
    );
    // bob never views the room: every live message, his own included, is a notification to him.
    const expectedForBob = [firstFromBob, own, secondFromBob, thirdFromBob];
    check(
      JSON.stringify(seqsOf(b.notifications)) === JSON.stringify(expectedForBob),
      `bob's notifications got seq ${JSON.stringify(seqsOf(b.notifications))}, expected ${JSON.stringify(expectedForBob)}`,
    );
    for (const message of a.topic) {
      check(message.headers.destination === topic, `room MESSAGE destination is ${message.headers.destination}`);
      check(
        message.headers.seq === String(message.body.message.seq),
        `room MESSAGE header seq ${message.headers.seq} differs from the body's ${message.body.message.seq}`,
      );
      check(message.headers.subscription === room.id, `room MESSAGE subscription is ${message.headers.subscription}, expected ${room.id}`);
    }
    check(a.errors.length === 0, `error events: ${JSON.stringify(a.errors.map((m) => m.body))}`);
  });
}

if (unsupported) runUnsupported();
else if (stock) runDefaults();
else if (acks) runAcks();
else run();
