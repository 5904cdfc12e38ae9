//! A fake plain STOMP broker (RabbitMQ Web-STOMP, Spring's simple broker): topics and nothing
//! else. A SEND to a destination becomes a MESSAGE to every subscription of it, the sender's
//! included, with the SEND's own headers; a `receipt` gets its RECEIPT. No users, no history,
//! no seq. It can deliver a SEND twice (at-least-once brokers), drop every socket, and refuse
//! sockets while down. Every client frame is logged, so tests assert on the wire.
import type { IStompSocket } from '@stomp/stompjs';
import { encodeFrame, FakeSocket, parseFrames, type LoggedFrame, type SocketHost } from './fakeBroker';

interface TopicConnection {
  id: number;
  socket: FakeSocket;
  login: string;
  connected: boolean;
  /** subscription id -> destination */
  subs: Map<string, string>;
}

/** The fake plain broker. */
export class FakeTopicBroker implements SocketHost {
  readonly log: LoggedFrame[] = [];
  /** New sockets are refused. */
  down = false;
  /** Deliver the next SEND twice (a redelivery). */
  duplicateNextSend = false;
  /** Answer a SEND's `receipt` (some brokers never do). */
  receiptsForSends = true;
  /** A SEND to one of these gets an `ERROR` (with its `receipt-id`) and the socket closes, as RabbitMQ does. */
  readonly refused = new Set<string>();
  private readonly connections = new Set<TopicConnection>();
  private nextConn = 1;
  private nextMessage = 1;

  /** A socket factory for stompjs. */
  factory(): () => IStompSocket {
    return () => new FakeSocket(this, '');
  }

  /** Publishes as someone outside the tests' clients (another app instance). */
  publish(destination: string, body: string, headers: Record<string, string> = {}): void {
    this.fanOut(destination, body, headers);
  }

  /** Closes every socket from the server side (a broker restart). */
  dropAll(): void {
    for (const conn of [...this.connections]) conn.socket.closeWith(1006);
  }

  /** Logged client frames of one command, optionally for one destination. */
  frames(command: string, destination?: string): LoggedFrame[] {
    return this.log.filter((f) => f.command === command && (destination === undefined || f.headers.destination === destination));
  }

  /** Destinations subscribed right now, over every connection (one entry per subscription). */
  subscribed(): string[] {
    return [...this.connections].flatMap((conn) => [...conn.subs.values()]).sort();
  }

  accept(socket: FakeSocket): void {
    if (this.down) {
      socket.readyState = 3;
      socket.onclose?.({ code: 1006, reason: '', wasClean: false });
      return;
    }
    socket.readyState = 1;
    this.connections.add({ id: this.nextConn++, socket, login: '', connected: false, subs: new Map() });
    socket.onopen?.({});
  }

  forget(socket: FakeSocket): void {
    for (const conn of this.connections) if (conn.socket === socket) this.connections.delete(conn);
  }

  receive(socket: FakeSocket, data: string): void {
    const conn = [...this.connections].find((c) => c.socket === socket);
    if (!conn) return;
    for (const frame of parseFrames(data)) {
      this.log.push({ conn: conn.id, user: conn.login, ...frame });
      this.handle(conn, frame.command, frame.headers, frame.body);
    }
  }

  private handle(conn: TopicConnection, command: string, headers: Record<string, string>, body: string): void {
    switch (command) {
      case 'CONNECT':
      case 'STOMP':
        conn.login = headers.login ?? '';
        conn.connected = true;
        conn.socket.deliver(encodeFrame('CONNECTED', { version: '1.2', 'heart-beat': '0,0' }));
        return;
      case 'SUBSCRIBE':
        conn.subs.set(headers.id ?? '', headers.destination ?? '');
        break;
      case 'UNSUBSCRIBE':
        conn.subs.delete(headers.id ?? '');
        break;
      case 'SEND': {
        const { destination = '', ...rest } = headers;
        if (this.refused.has(destination)) {
          const error: Record<string, string> = { message: 'access_refused' };
          if (headers.receipt !== undefined) error['receipt-id'] = headers.receipt;
          conn.socket.deliver(encodeFrame('ERROR', error, `no access to ${destination}`));
          conn.socket.closeWith(1000);
          return;
        }
        delete rest.receipt;
        const copies = this.duplicateNextSend ? 2 : 1;
        this.duplicateNextSend = false;
        for (let i = 0; i < copies; i++) this.fanOut(destination, body, rest);
        break;
      }
      case 'DISCONNECT':
        break;
      default:
        return;
    }
    if (command === 'SEND' && !this.receiptsForSends) return;
    if (headers.receipt !== undefined) conn.socket.deliver(encodeFrame('RECEIPT', { 'receipt-id': headers.receipt }));
  }

  private fanOut(destination: string, body: string, headers: Record<string, string>): void {
    for (const conn of this.connections) {
      for (const [id, subscribed] of conn.subs) {
        if (subscribed !== destination) continue;
        const messageId = String(this.nextMessage++);
        conn.socket.deliver(encodeFrame('MESSAGE', { ...headers, destination, subscription: id, 'message-id': messageId }, body));
      }
    }
  }
}
