// The suite's shared pieces: starting the sotong binary on an ephemeral port, minting the
// HS256 JWTs it accepts (contract: "Identity and tokens"), and preparing one case's fixture
// over HTTP (two fresh users, their direct room, three stored messages to replay).
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How many messages each fixture stores over HTTP before any STOMP client connects. */
export const STORED_BEFORE = 3;

/** One running server with its own data dir; `url` is `http://127.0.0.1:PORT`. */
export class Server {
  /**
   * Starts `bin serve` on 127.0.0.1:0 with a fresh data dir and the given JWT secret, and
   * resolves once it logs `listening on http://ADDR` (or rejects when it exits first or
   * takes longer than `readyMs`).
   */
  static async start(bin, jwtSecret, readyMs = 30_000) {
    const dataDir = mkdtempSync(join(tmpdir(), 'sotong-interop-'));
    const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SOTONG_JWT_SECRET: jwtSecret, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    const server = new Server(child, dataDir);
    server.url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sotong was not listening after ${readyMs} ms:\n${server.log}`)), readyMs);
      const onData = (chunk) => {
        server.log += chunk.toString();
        const match = /listening on (http:\/\/[^\s]+)/.exec(server.log);
        if (match) {
          clearTimeout(timer);
          resolve(match[1].replace(/\/$/, ''));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sotong exited (${code}) before listening:\n${server.log}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    return server;
  }

  constructor(child, dataDir) {
    this.child = child;
    this.dataDir = dataDir;
    this.log = '';
    this.url = '';
  }

  /** The STOMP endpoint. */
  get wsUrl() {
    return `${this.url.replace(/^http/, 'ws')}/ws`;
  }

  /**
   * SIGTERM (the contract: drains and exits 0), SIGKILL after 10 s, then removes the data
   * dir. Resolves with the exit code (null when it had to be killed).
   */
  async stop() {
    const child = this.child;
    let code = child.exitCode;
    if (code === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      code = await exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
    return code;
  }
}

/** A random secret long enough for the server (at least 16 bytes). */
export function newJwtSecret() {
  return randomBytes(32).toString('hex');
}

function base64url(value) {
  return Buffer.from(value).toString('base64url');
}

/** An HS256 JWT for `username` (claims `sub`, `name`, `exp` one hour ahead). */
export function mintJwt(secret, username, displayName) {
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({ sub: username, name: displayName, exp: Math.floor(Date.now() / 1000) + 3600 }),
  );
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

async function api(server, token, method, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Two fresh users (`<prefix>-a`, `<prefix>-b`, created on their first JWT use), their
 * direct room, and `STORED_BEFORE` messages from the first user stored over HTTP (seq 1..3).
 */
export async function prepareFixture(server, secret, prefix) {
  const alice = { username: `${prefix}-a`, displayName: `Alice ${prefix}` };
  const bob = { username: `${prefix}-b`, displayName: `Bob ${prefix}` };
  for (const user of [alice, bob]) {
    user.token = mintJwt(secret, user.username, user.displayName);
    const me = await api(server, user.token, 'GET', '/api/me');
    user.id = me.id;
  }
  const room = await api(server, alice.token, 'POST', '/api/rooms/direct', { username: bob.username });
  for (let n = 1; n <= STORED_BEFORE; n++) {
    const message = await api(server, alice.token, 'POST', `/api/rooms/${room.id}/messages`, {
      text: `stored ${n}`,
      clientMsgId: `${prefix}-stored-${n}`,
    });
    if (message.seq !== n) throw new Error(`stored message ${n} got seq ${message.seq}`);
  }
  return { wsUrl: server.wsUrl, roomId: room.id, storedBefore: STORED_BEFORE, alice, bob };
}
