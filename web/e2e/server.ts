//! Starts and stops a real sotong server for one test: its own temp data dir and an
//! ephemeral port, the built app from web/dist. `restart` brings it back on the same port
//! and data dir (the reconnect test).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = resolve(web, process.env.SOTONG_BIN ?? '../target/release/sotong');

/** One running server. */
export class TestServer {
  private child: ChildProcess | null = null;
  private output = '';
  /** `http://127.0.0.1:PORT`. */
  url = '';
  private constructor(private readonly dataDir: string) {}

  /** Starts a server on an ephemeral port with a fresh data dir. */
  static async start(): Promise<TestServer> {
    const server = new TestServer(mkdtempSync(join(tmpdir(), 'sotong-e2e-')));
    await server.spawn('127.0.0.1:0');
    return server;
  }

  /** Everything the server printed (for failure messages). */
  get log(): string {
    return this.output;
  }

  /** SIGTERM, then waits for the exit (the contract: drains and exits 0). Returns the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    this.child = null;
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    child.kill('SIGTERM');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timeout);
    return code;
  }

  /** Starts again on the same address and data dir. */
  async restart(): Promise<void> {
    const address = new URL(this.url).host;
    // The port was just released; give the bind a few tries.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawn(address);
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Stops the server and removes its data dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private spawn(listen: string): Promise<void> {
    const child = spawn(bin, ['serve', '--listen', listen, '--data-dir', this.dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    this.child = child;
    return new Promise((resolveReady, reject) => {
      let buffered = '';
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.output += text;
        buffered += text;
        const match = /listening on (http:\/\/[^\s]+)/.exec(buffered);
        if (match?.[1]) {
          this.url = match[1].replace(/\/$/, '');
          buffered = '';
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`sotong exited (${code}) before listening:\n${this.output}`)));
      child.once('error', reject);
    });
  }
}
