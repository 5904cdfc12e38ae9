// Runs every interop case against one sotong binary: starts it on 127.0.0.1 (ephemeral port,
// fresh data dir, a random JWT secret), prepares a fixture per case over HTTP, runs each case
// (client x STOMP version x frame kind, and the few more in README.md) as a child process with
// a time limit, prints one line per case and then `N passed, N failed`, stops the server, and
// exits 1 when a case failed.
//
//   node run.mjs [--bin PATH] [--python PATH] [--only SUBSTRING]
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Server, newJwtSecret, prepareFixture } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: options } = parseArgs({
  options: {
    bin: { type: 'string', default: process.env.SOTONG_BIN ?? resolve(here, '../target/release/sotong') },
    python: { type: 'string', default: resolve(here, '.venv/bin/python') },
    only: { type: 'string', default: '' },
  },
});
const bin = resolve(process.env.INTEROP_CALLER_CWD ?? process.cwd(), options.bin);

const IDLE_MS = Number(process.env.INTEROP_IDLE_MS ?? 25_000);
/** Per case: the idle spell plus room for the flow. */
const CASE_TIMEOUT_MS = Number(process.env.INTEROP_CASE_TIMEOUT_MS ?? IDLE_MS + 45_000);

const clients = {
  stompjs: (args) => [process.execPath, [resolve(here, 'stompjs-case.mjs'), ...args]],
  'stomp.py': (args) => [options.python, [resolve(here, 'stomppy_case.py'), ...args]],
};
const cases = [];
for (const client of Object.keys(clients)) {
  for (const version of ['1.0', '1.1', '1.2']) {
    for (const frames of ['text', 'binary']) {
      cases.push({ client, args: [version, frames], name: `${client} STOMP ${version} ${frames}` });
    }
  }
  for (const version of ['1.0', '1.1', '1.2']) {
    cases.push({ client, args: [version, 'acks'], name: `${client} STOMP ${version} two subscriptions, client acks` });
  }
  cases.push({ client, args: ['unsupported'], name: `${client} STOMP 2.0 only: ERROR names the versions` });
  // Stock options only, and an idle spell longer than twice the agreed heart-beat interval.
  cases.push({ client, args: ['defaults'], name: `${client} stock defaults, idle ${IDLE_MS / 1000} s` });
}
const selected = cases.filter((testCase) => testCase.name.includes(options.only));
if (selected.length === 0) {
  console.error(`no case name contains ${JSON.stringify(options.only)}; the cases are:\n${cases.map((c) => c.name).join('\n')}`);
  process.exit(2);
}

/** Runs one case process; resolves with `{ ok, failures, lastStep }`. */
function runCase(testCase, fixture) {
  const [command, args] = clients[testCase.client](testCase.args);
  return new Promise((resolveCase) => {
    const child = spawn(command, args, {
      cwd: here,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, INTEROP_FIXTURE: JSON.stringify(fixture) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CASE_TIMEOUT_MS);
    const finish = (code, spawnError) => {
      clearTimeout(timer);
      const failures = stdout
        .split('\n')
        .filter((line) => line.startsWith('FAIL: '))
        .map((line) => line.slice('FAIL: '.length));
      const steps = stderr.split('\n').filter((line) => line.startsWith('step: '));
      const lastStep = steps.at(-1)?.slice('step: '.length) ?? '(before the first step)';
      if (spawnError) failures.push(`could not start ${command}: ${spawnError.message}`);
      if (timedOut) failures.push(`case timed out after ${CASE_TIMEOUT_MS} ms`);
      if (code !== 0 && failures.length === 0) {
        failures.push(`exited with ${code} without naming a failed check:\n${stderr.trim()}`);
      }
      resolveCase({ ok: code === 0 && failures.length === 0, failures, lastStep, stderr });
    };
    child.once('error', (error) => finish(null, error));
    child.once('exit', (code) => finish(code));
  });
}

async function main() {
  const secret = newJwtSecret();
  const server = await Server.start(bin, secret);
  console.log(`sotong ${bin} listening on ${server.url}`);
  let passed = 0;
  let failed = 0;
  try {
    for (const [index, testCase] of selected.entries()) {
      const started = Date.now();
      let result;
      try {
        const fixture = await prepareFixture(server, secret, `i${index}-${Date.now().toString(36)}`);
        result = await runCase(testCase, fixture);
      } catch (error) {
        result = { ok: false, failures: [`fixture: ${error.message}`], lastStep: 'fixture over HTTP' };
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (result.ok) {
        passed++;
        console.log(`PASS ${testCase.name} (${seconds} s)`);
      } else {
        failed++;
        console.log(`FAIL ${testCase.name} (${seconds} s), at: ${result.lastStep}`);
        for (const failure of result.failures) console.log(`     ${failure}`);
        if (process.env.INTEROP_VERBOSE) console.log(result.stderr);
      }
    }
  } finally {
    const code = await server.stop();
    if (code !== 0) {
      failed++;
      console.log(`FAIL server shutdown: exit code ${code} after SIGTERM (the contract says 0)`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
