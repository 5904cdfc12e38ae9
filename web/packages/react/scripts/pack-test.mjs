#!/usr/bin/env node
// Proves that what `npm pack` ships is a working package, the way a stranger would use it:
//
// 1. `npm run build`, then `npm pack` into a temp dir; the tarball must hold dist/, the types,
//    README.md and CHANGELOG.md, and no sources or tests.
// 2. For React 19 and React 18, an empty Vite React app in a temp dir (package.json,
//    index.html, tsconfig.json, src/main.tsx using SotongProvider, useRoom and
//    useConnectionStatus) installs the tarball with react, react-dom, @stomp/stompjs and vite
//    with `npm install --offline`, from the npm cache only. What the cache lacks is added first
//    with `npm cache add` (the only step allowed to use the network; `--no-prefill` skips it).
// 3. `tsc --noEmit` checks the app against the package's types; `vite build` bundles it.
// 4. A real sotong server (SOTONG_BIN, default ../../../target/release/sotong from here) serves
//    the built app on an ephemeral port with a temp data dir; two users are registered over
//    HTTP; Chromium opens the app as one of them: it must say "connected", send a message and
//    show it once, sent, with seq 1, then show the other user's message once with seq 2.
//
// Bounded: every child process has a deadline, the whole run one more; temp dirs, servers
// and the browser are removed or stopped on every exit path.
//
//   npm run test:pack -w @sotong/react [-- --only 19] [-- --no-prefill] [-- --keep]
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, '..');
const webDir = resolve(packageDir, '../..');
const bin = resolve(webDir, process.env.SOTONG_BIN ?? '../target/release/sotong');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const prefill = !args.includes('--no-prefill');
const keep = args.includes('--keep');
const only = option('--only');
/** The whole run, installs and two browser sessions included. */
const RUN_DEADLINE_MS = 6 * 60_000;
/** One child process (an install, a build, a type check). */
const STEP_DEADLINE_MS = 3 * 60_000;

/** The versions the web app itself is locked to: the React 19 app uses exactly these. */
function lockedVersion(name) {
  const lock = JSON.parse(readFileSync(join(webDir, 'package-lock.json'), 'utf8'));
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in web/package-lock.json`);
  return version;
}

const shared = {
  '@stomp/stompjs': lockedVersion('@stomp/stompjs'),
  vite: lockedVersion('vite'),
  typescript: lockedVersion('typescript'),
};
const VARIANTS = [
  {
    name: '19',
    dependencies: { react: lockedVersion('react'), 'react-dom': lockedVersion('react-dom') },
    types: { '@types/react': lockedVersion('@types/react'), '@types/react-dom': lockedVersion('@types/react-dom') },
  },
  {
    name: '18',
    dependencies: { react: '18.3.1', 'react-dom': '18.3.1' },
    types: { '@types/react': '^18.3.0', '@types/react-dom': '^18.3.0' },
  },
].filter((variant) => only === undefined || variant.name === only);

const cleanups = [];
let finished = false;

async function cleanupAll() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error(`pack-test: cleanup failed: ${error}`);
    }
  }
}

function log(line) {
  console.log(`pack-test: ${line}`);
}

/** Runs a command to its end within the step deadline; rejects with its output on failure. */
function run(command, commandArgs, cwd, extraEnv = {}) {
  return new Promise((resolveRun, reject) => {
    execFile(
      command,
      commandArgs,
      { cwd, env: { ...process.env, ...extraEnv }, timeout: STEP_DEADLINE_MS, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${commandArgs.join(' ')} (in ${cwd}) failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolveRun(stdout);
      },
    );
  });
}

/** `npm pack` into `dir`; returns the tarball's path after checking what it holds. */
async function pack(dir) {
  // The build first, on its own: `npm pack --json` then prints nothing but its JSON.
  await run('npm', ['run', 'build'], packageDir);
  const out = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], packageDir);
  const [info] = JSON.parse(out);
  const files = info.files.map((f) => f.path).sort();
  const required = ['package.json', 'README.md', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'dist/provider.d.ts', 'dist/hooks.d.ts'];
  const missing = required.filter((f) => !files.includes(f));
  const stray = files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('scripts/') || f.endsWith('.tsx'));
  if (missing.length > 0 || stray.length > 0) {
    throw new Error(`the tarball is wrong: missing ${missing.join(', ') || 'nothing'}; should not ship ${stray.join(', ') || 'nothing'}`);
  }
  log(`packed ${info.filename}: ${files.length} files, ${info.size} bytes`);
  return join(dir, info.filename);
}

/** The app's package.json: the tarball, its peers, Vite and the types. */
function appManifest(variant, tarball) {
  return {
    name: `sotong-pack-test-react${variant.name}`,
    private: true,
    version: '0.0.0',
    type: 'module',
    dependencies: { '@sotong/react': `file:${tarball}`, '@stomp/stompjs': shared['@stomp/stompjs'], ...variant.dependencies },
    devDependencies: { vite: shared.vite, typescript: shared.typescript, ...variant.types },
  };
}

/**
 * Adds to the npm cache what the app's install needs and the cache lacks: resolves the tree
 * once (metadata, `--prefer-offline`), then `npm cache add` for each package of this platform.
 */
async function fillCache(variant, scratch) {
  const dir = join(scratch, `prefill-react${variant.name}`);
  mkdirSync(dir);
  const manifest = appManifest(variant, 'unused');
  delete manifest.dependencies['@sotong/react'];
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  await run('npm', ['install', '--package-lock-only', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  const specs = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path || !entry.version || entry.link || entry.resolved?.startsWith('file:')) continue;
    if (entry.os && !entry.os.includes(process.platform)) continue;
    if (entry.cpu && !entry.cpu.includes(process.arch)) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    specs.push(`${name}@${entry.version}`);
  }
  await run('npm', ['cache', 'add', '--prefer-offline', ...new Set(specs)], dir);
  log(`React ${variant.name}: the npm cache holds the ${specs.length} packages the app needs`);
}

const MAIN_TSX = `import { StrictMode, useState, version } from 'react';
import { createRoot } from 'react-dom/client';
import { createSotongApi, SotongProvider, useConnectionStatus, useRoom, type User } from '@sotong/react';

// What a login screen would have produced, handed over in the URL fragment.
const session = new URLSearchParams(window.location.hash.slice(1));
const token = session.get('token') ?? '';
const me = JSON.parse(session.get('me') ?? 'null') as User;
const roomId = Number(session.get('room'));

function Chat() {
  const status = useConnectionStatus();
  const { messages, send } = useRoom(roomId);
  const [text, setText] = useState('');
  return (
    <main>
      <p data-testid="react">{version}</p>
      <p data-testid="status">{status}</p>
      <ol aria-label="Messages">
        {messages.map((m) => (
          <li key={m.key} data-state={m.state}>
            {m.seq ?? '-'}: {m.text}
          </li>
        ))}
      </ol>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          send(text);
          setText('');
        }}
      >
        <input aria-label="Message" value={text} onChange={(event) => setText(event.target.value)} />
        <button type="submit">Send</button>
      </form>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <SotongProvider me={me} token={() => token} api={createSotongApi({ token })}>
      <Chat />
    </SotongProvider>
  </StrictMode>,
);
`;

/** Writes the empty Vite React app that uses the package. */
function writeApp(dir, variant, tarball) {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(appManifest(variant, tarball), null, 2));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html>\n<html lang="en">\n  <head><meta charset="UTF-8" /><title>pack test</title></head>\n  <body>\n    <div id="root"></div>\n    <script type="module" src="/src/main.tsx"></script>\n  </body>\n</html>\n',
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          module: 'ESNext',
          moduleResolution: 'Bundler',
          jsx: 'react-jsx',
          strict: true,
          noEmit: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          // The package's own .d.ts files are checked too.
          skipLibCheck: false,
          types: [],
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  writeFileSync(join(dir, 'src', 'main.tsx'), MAIN_TSX);
}

/** `sotong serve` on an ephemeral port with its own data dir, serving `webDir`. */
async function startServer(dataDir, appDist) {
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', appDist], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,sotong=info' },
  });
  let output = '';
  const stopped = new Promise((resolveExit) => child.once('exit', resolveExit));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await stopped;
    clearTimeout(timer);
  };
  cleanups.push(stop);
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`sotong did not listen within 30 s:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1].replace(/\/$/, ''));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sotong exited (${code}) before listening:\n${output}`));
    });
  });
  return { url, stop, output: () => output };
}

/** One JSON call of sotong's HTTP API. */
async function api(url, method, path, token, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function signUp(url, username) {
  await api(url, 'POST', '/api/register', null, { username, password: 'correct horse battery' });
  return api(url, 'POST', '/api/login', null, { username, password: 'correct horse battery' });
}

/** Opens the built app in Chromium as alice and checks what she sees. */
async function checkInBrowser(chromium, variant, url) {
  const alice = await signUp(url, 'alice');
  const bob = await signUp(url, 'bob');
  const room = await api(url, 'POST', '/api/rooms/direct', alice.token, { username: 'bob' });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  cleanups.push(() => browser.close());
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const fragment = new URLSearchParams({ token: alice.token, me: JSON.stringify(alice.user), room: String(room.id) });
    await page.goto(`${url}/#${fragment}`);
    const expectText = async (locator, text) => {
      await locator.filter({ hasText: text }).first().waitFor({ timeout: 15_000 });
    };
    await expectText(page.getByTestId('react'), new RegExp(`^${variant.name}\\.`));
    await expectText(page.getByTestId('status'), /^connected$/);

    await page.getByRole('textbox', { name: 'Message' }).fill('hello from the tarball');
    await page.getByRole('button', { name: 'Send' }).click();
    const messages = page.getByRole('list', { name: 'Messages' }).getByRole('listitem');
    await page.locator('li[data-state="sent"]', { hasText: '1: hello from the tarball' }).waitFor({ timeout: 15_000 });

    await api(url, 'POST', `/api/rooms/${room.id}/messages`, bob.token, { text: 'hi from bob' });
    await page.locator('li', { hasText: '2: hi from bob' }).waitFor({ timeout: 15_000 });
    const shown = await messages.allTextContents();
    const want = ['1: hello from the tarball', '2: hi from bob'];
    if (JSON.stringify(shown) !== JSON.stringify(want)) throw new Error(`React ${variant.name}: the page shows ${JSON.stringify(shown)}, not ${JSON.stringify(want)}`);
    const stored = await api(url, 'GET', `/api/rooms/${room.id}/messages`, alice.token);
    if (stored.length !== 2) throw new Error(`React ${variant.name}: the server stored ${stored.length} messages, not 2`);
    if (errors.length > 0) throw new Error(`React ${variant.name}: errors in the page: ${errors.join('; ')}`);
    log(`React ${variant.name}: in Chromium the app connected, sent "hello from the tarball" (seq 1, once) and showed bob's reply (seq 2, once)`);
  } finally {
    await browser.close();
  }
}

async function main() {
  const started = Date.now();
  if (!existsSync(bin)) throw new Error(`no sotong binary at ${bin} (build it with cargo build --release -p sotong, or set SOTONG_BIN)`);
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);
  const { chromium } = await import('playwright-core');
  const scratch = mkdtempSync(join(tmpdir(), 'sotong-pack-test-'));
  if (!keep) cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  else log(`keeping ${scratch}`);

  const tarball = await pack(scratch);
  for (const variant of VARIANTS) {
    if (prefill) await fillCache(variant, scratch);
    const app = join(scratch, `app-react${variant.name}`);
    writeApp(app, variant, tarball);
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], app);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'react', 'package.json'), 'utf8')).version;
    if (!installed.startsWith(`${variant.name}.`)) throw new Error(`installed react ${installed}, wanted ${variant.name}.x`);
    log(`React ${variant.name}: installed offline from the npm cache (react ${installed})`);
    await run(join(app, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', 'tsconfig.json'], app);
    log(`React ${variant.name}: tsc --noEmit passes against the package's types`);
    await run(join(app, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], app);
    log(`React ${variant.name}: vite build done`);

    const dataDir = join(scratch, `data-react${variant.name}`);
    mkdirSync(dataDir);
    const server = await startServer(dataDir, join(app, 'dist'));
    try {
      await checkInBrowser(chromium, variant, server.url);
    } catch (error) {
      console.error(server.output());
      throw error;
    } finally {
      await server.stop();
    }
  }
  log(`passed in ${Math.round((Date.now() - started) / 1000)} s`);
}

const deadline = setTimeout(() => {
  console.error(`pack-test: over the ${RUN_DEADLINE_MS / 1000} s deadline, stopping`);
  void cleanupAll().finally(() => process.exit(1));
}, RUN_DEADLINE_MS);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void cleanupAll().finally(() => process.exit(130));
  });
}

try {
  await main();
  finished = true;
} catch (error) {
  console.error(`pack-test: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  clearTimeout(deadline);
  await cleanupAll();
}
process.exit(finished ? 0 : 1);
