//! Starts and stops a real sotong server for one test: its own temp data dir and an
//! ephemeral port, the built app from web/dist. `restart` brings it back on the same port
//! and data dir (the reconnect test).
//!
//! With SOTONG_E2E_CLUSTER=1 the server is a cluster instead: two `sotong serve` nodes on a
//! PostgreSQL database of the test's own (created with psql, dropped after) and the machine's
//! Redis under a channel prefix of the test's own, behind Debian's nginx with a generated
//! configuration. nginx takes WebSockets round-robin on their own upstream, so the first two
//! people of a test sit on different nodes and their messages cross Redis; `url` is nginx's.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = resolve(web, process.env.SOTONG_BIN ?? '../target/release/sotong');

/** Whether each test gets a two-node cluster behind nginx rather than one node. */
export const clusterMode = process.env.SOTONG_E2E_CLUSTER === '1';
const clusterNodes = 2;
/** The PostgreSQL server the cluster's databases are made on (no database name). */
const postgres = (process.env.SOTONG_E2E_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');
const redis = process.env.SOTONG_E2E_REDIS ?? 'redis://127.0.0.1:6379';
const nginxBin = process.env.NGINX ?? '/usr/sbin/nginx';
/** How long a start waits for something to answer before the test fails as hung. */
const patience = 30_000;

/** One running server: a node, or in cluster mode the nodes behind nginx. */
export class TestServer {
  private readonly nodes: Node[] = [];
  private proxy: Proxy | null = null;
  private readonly lines: string[] = [];
  /** `http://127.0.0.1:PORT`: the node's, or nginx's in cluster mode. */
  url = '';
  private constructor(
    private readonly dataDir: string,
    private readonly database: string | null,
  ) {}

  /** Starts a server on an ephemeral port with a fresh data dir (a cluster in cluster mode). */
  static async start(): Promise<TestServer> {
    const dataDir = mkdtempSync(join(tmpdir(), 'sotong-e2e-'));
    if (!clusterMode) {
      const server = new TestServer(dataDir, null);
      const node = new Node('', ['--data-dir', dataDir], (text) => server.lines.push(text));
      server.nodes.push(node);
      await node.start('127.0.0.1:0');
      server.url = node.url;
      return server;
    }
    const database = `sotong_e2e_${String(process.pid)}_${randomBytes(4).toString('hex')}`;
    psql(`CREATE DATABASE "${database}"`);
    const server = new TestServer(dataDir, database);
    try {
      await server.startCluster(database);
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  /** Everything the server printed (for failure messages), each line after its node's name. */
  get log(): string {
    return this.lines.join('');
  }

  /** SIGTERM to every node, then waits for them (the contract: drains and exits 0). Returns
   *  the first non-zero exit code, 0 when all exited 0, null when none was running. nginx
   *  stays, so clients see the nodes gone, not the address. */
  async stop(): Promise<number | null> {
    const codes = await Promise.all(this.nodes.map((node) => node.stop()));
    const ran = codes.filter((code) => code !== undefined);
    if (ran.length === 0) return null;
    return ran.find((code) => code !== 0) ?? 0;
  }

  /** Starts every node again on its address and data (the reconnect test). */
  async restart(): Promise<void> {
    for (const node of this.nodes) {
      const address = new URL(node.url).host;
      // The port was just released; give the bind a few tries.
      for (let attempt = 0; ; attempt++) {
        try {
          await node.start(address);
          break;
        } catch (error) {
          if (attempt >= 20) throw error;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }
  }

  /** Open STOMP connections per node (`sotong_connections` of each node's /metrics). */
  async connectionsPerNode(): Promise<number[]> {
    return Promise.all(this.nodes.map((node) => node.metric('sotong_connections')));
  }

  /** Stops the nodes and nginx, drops the cluster's database, and removes the data dir. */
  async dispose(): Promise<void> {
    await this.stop();
    await this.proxy?.stop();
    this.proxy = null;
    if (this.database) psql(`DROP DATABASE IF EXISTS "${this.database}" WITH (FORCE)`);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async startCluster(database: string): Promise<void> {
    const config = join(this.dataDir, 'node.toml');
    const prefix = `sotong-e2e-${String(process.pid)}-${randomBytes(6).toString('hex')}`;
    writeFileSync(config, `redis_channel_prefix = "${prefix}"\n`);
    // One attachment store for every node (as S3 or a shared volume would be in production):
    // an upload taken by one node is fetched through another.
    const files = join(this.dataDir, 'files');
    mkdirSync(files);
    for (let i = 1; i <= clusterNodes; i++) {
      const nodeDir = join(this.dataDir, `node${String(i)}`);
      mkdirSync(nodeDir);
      const args = [
        '--data-dir', nodeDir,
        '--database-url', `${postgres}/${database}`,
        '--redis-url', redis,
        '--trusted-proxies', '127.0.0.1/32',
        '--files-url', `file://${files}`,
        '--config', config,
      ];
      const node = new Node(`node${String(i)} | `, args, (text) => this.lines.push(text));
      this.nodes.push(node);
      await node.start('127.0.0.1:0');
    }
    // A free port for nginx; another process may take it first, so a failed start retries.
    for (let attempt = 0; ; attempt++) {
      const proxy = new Proxy(join(this.dataDir, 'nginx'), await freePort(), this.nodes, (text) => this.lines.push(text));
      try {
        await proxy.start();
        this.proxy = proxy;
        this.url = proxy.url;
        return;
      } catch (error) {
        await proxy.stop();
        if (attempt >= 5) throw error;
      }
    }
  }
}

/** One `sotong serve` process; started again on the same address by `start(address)`. */
class Node {
  private child: ChildProcess | null = null;
  /** `http://127.0.0.1:PORT`, once started. */
  url = '';

  constructor(
    private readonly label: string,
    private readonly args: string[],
    private readonly print: (text: string) => void,
  ) {}

  start(listen: string): Promise<void> {
    const child = spawn(bin, ['serve', '--listen', listen, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    });
    this.child = child;
    let output = '';
    return new Promise((resolveReady, reject) => {
      let buffered = '';
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        output += text;
        this.print(this.label ? text.replace(/^(?=.)/gm, this.label) : text);
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
      child.once('exit', (code) => reject(new Error(`sotong exited (${String(code)}) before listening:\n${output}`)));
      child.once('error', reject);
    });
  }

  /** SIGTERM, then waits for the exit; the exit code, or undefined when it was not running. */
  async stop(): Promise<number | null | undefined> {
    const child = this.child;
    if (!child) return undefined;
    this.child = null;
    return terminate(child);
  }

  /** One series without labels from the node's /metrics. */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (!line) throw new Error(`no ${name} in ${this.url}/metrics`);
    return Number(line.slice(name.length + 1));
  }
}

/** nginx in the foreground with a configuration of its own in `dir`, as scripts/cluster runs
 *  it, except that WebSockets go round-robin on their own upstream (so that they alternate
 *  between the nodes whatever plain requests come between them) and a node is never marked
 *  down (so the nodes' restart in the reconnect test is seen at once). */
class Proxy {
  private child: ChildProcess | null = null;
  readonly url: string;

  constructor(
    private readonly dir: string,
    private readonly port: number,
    private readonly nodes: Node[],
    private readonly print: (text: string) => void,
  ) {
    this.url = `http://127.0.0.1:${String(port)}`;
  }

  async start(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    // nginx's workers drop root and must still reach their temporary files.
    chmodSync(this.dir, 0o755);
    const conf = join(this.dir, 'nginx.conf');
    writeFileSync(conf, this.config());
    const child = spawn(nginxBin, ['-e', 'stderr', '-p', this.dir, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      this.print(chunk.toString().replace(/^(?=.)/gm, 'nginx | '));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let gone: Error | null = null;
    child.once('exit', (code) => (gone = new Error(`nginx exited (${String(code)}) at start:\n${output}`)));
    child.once('error', (error) => (gone = error));
    // Ready when /healthz answers through it (from whichever node).
    const deadline = Date.now() + patience;
    for (;;) {
      if (gone) throw gone;
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`nginx not ready on ${this.url}:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child);
  }

  private config(): string {
    const servers = this.nodes.map((node) => `        server ${new URL(node.url).host} max_fails=0;`).join('\n');
    const upstream = (name: string) => `    upstream ${name} {\n${servers}\n        keepalive 8;\n    }\n`;
    const proxied = `            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;`;
    return `# Generated for one end-to-end test; scripts/cluster and docs/deploy.md hold the reference.
daemon off;
worker_processes 1;
pid ${this.dir}/nginx.pid;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    # Uploads up to the server's own limit (25 MB by default) pass, streamed: the node, not
    # nginx, refuses what is over it, with the contract's JSON error.
    client_max_body_size 32m;
    proxy_request_buffering off;
    client_body_temp_path ${this.dir}/body;
    proxy_temp_path ${this.dir}/proxy;
    fastcgi_temp_path ${this.dir}/fastcgi;
    uwsgi_temp_path ${this.dir}/uwsgi;
    scgi_temp_path ${this.dir}/scgi;

${upstream('sotong_ws')}
${upstream('sotong_http')}
    server {
        listen 127.0.0.1:${String(this.port)};
        location = /ws {
            proxy_pass http://sotong_ws;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
${proxied}
        }
        location / {
            proxy_pass http://sotong_http;
            proxy_set_header Connection "";
${proxied}
        }
    }
}
`;
  }
}

/** SIGTERM, SIGKILL after 10 s, and the exit code. */
async function terminate(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  child.kill('SIGTERM');
  const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timeout);
  return code;
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Runs one SQL statement on the PostgreSQL server's maintenance database. */
function psql(sql: string): void {
  execFileSync('psql', [`${postgres}/postgres`, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'ignore', 'pipe'] });
}
