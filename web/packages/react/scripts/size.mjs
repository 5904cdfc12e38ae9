#!/usr/bin/env node
// What @sotong/react adds to an app's bundle: the built `dist/index.js` as shipped, minified
// with esbuild, and minified + gzipped (what a browser downloads). It also checks that the
// peers stay peers: the module may import react, react/jsx-runtime and @stomp/stompjs, and must
// not carry a copy of either library. It also prints what an app ships when it uses only one
// provider and the usual hooks (the rest is tree-shaken), and, for scale, @stomp/stompjs itself
// (a peer: the app pays for it once, with or without this package).
//
//   npm run size -w @sotong/react             (builds dist/ first, then measures it)
//   node scripts/size.mjs --no-build          (measures dist/ as it is)
//   node scripts/size.mjs --max-gzip 16000    (fails above that many gzipped bytes)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, transform } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, '..');
const entry = join(packageDir, 'dist', 'index.js');
const PEERS = ['react', 'react/jsx-runtime', '@stomp/stompjs'];
/** Strings that only a copy of the library itself would contain. */
const SIGNATURES = {
  react: ['react.element', 'react.transitional.element', 'Invalid hook call'],
  '@stomp/stompjs': ['Opening Web Socket', 'Received data', 'heart-beat'],
};

const maxGzipArg = process.argv.indexOf('--max-gzip');
const maxGzip = maxGzipArg === -1 ? Infinity : Number(process.argv[maxGzipArg + 1]);

if (!process.argv.includes('--no-build') || !existsSync(entry)) {
  execFileSync('npm', ['run', 'build'], { cwd: packageDir, stdio: 'inherit' });
}

/** Raw, minified and minified + gzipped sizes of one ES module's code. */
async function measure(code) {
  const minified = (await transform(code, { minify: true, format: 'esm', target: 'es2022', legalComments: 'none' })).code;
  return {
    raw: Buffer.byteLength(code),
    minified: Buffer.byteLength(minified),
    gzip: gzipSync(minified, { level: 9 }).length,
  };
}

/** The bare module specifiers the built file imports (relative ones would be a build error). */
async function importsOf(file) {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    format: 'esm',
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = Object.values(result.metafile.outputs);
  const inputs = Object.keys(result.metafile.inputs);
  return { imports: [...new Set(outputs.flatMap((o) => o.imports.map((i) => i.path)))].sort(), inputs };
}

const code = readFileSync(entry, 'utf8');
const ours = await measure(code);
const { imports, inputs } = await importsOf(entry);

const problems = [];
const unexpected = imports.filter((specifier) => !PEERS.includes(specifier));
if (unexpected.length > 0) problems.push(`dist/index.js imports ${unexpected.join(', ')}, which is not a peer dependency`);
for (const peer of ['react', '@stomp/stompjs']) {
  if (!imports.includes(peer)) problems.push(`dist/index.js does not import ${peer}: is a copy bundled instead?`);
}
if (inputs.length !== 1) problems.push(`dist/index.js pulls in other files: ${inputs.join(', ')}`);
for (const [library, strings] of Object.entries(SIGNATURES)) {
  const found = strings.filter((s) => code.includes(s));
  if (found.length > 0) problems.push(`dist/index.js contains ${library}'s code (${found.map((s) => JSON.stringify(s)).join(', ')})`);
}
if (ours.gzip > maxGzip) problems.push(`minified + gzip is ${ours.gzip} B, above the budget of ${maxGzip} B`);

// The peer, for scale: @stomp/stompjs's ES module entry bundled and minified on its own.
let stomp = null;
try {
  const stompEntry = import.meta.resolve('@stomp/stompjs');
  const bundled = await build({ entryPoints: [fileURLToPath(stompEntry)], bundle: true, write: false, format: 'esm', logLevel: 'silent' });
  stomp = await measure(bundled.outputFiles[0].text);
} catch {
  // Not installed here: only our own figures are printed.
}

// What an app ships when it uses one provider and the usual hooks (the rest is tree-shaken).
async function treeShaken(names) {
  const bundled = await build({
    stdin: { contents: `export { ${names.join(', ')} } from ${JSON.stringify(entry)};`, resolveDir: packageDir, loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    external: PEERS,
    logLevel: 'silent',
  });
  return measure(bundled.outputFiles[0].text);
}
const HOOKS = ['useRoom', 'useConnectionStatus', 'useNotifications', 'useRooms'];
const sotongOnly = await treeShaken(['SotongProvider', 'createSotongApi', ...HOOKS]);
const stompOnly = await treeShaken(['StompProvider', ...HOOKS]);

const row = (name, size) => `| ${name} | ${size.raw.toLocaleString('en')} | ${size.minified.toLocaleString('en')} | ${size.gzip.toLocaleString('en')} |`;
console.log('| module | raw bytes | minified | minified + gzip |');
console.log('|---|---:|---:|---:|');
console.log(row('@sotong/react (dist/index.js)', ours));
console.log(row(`SotongProvider + createSotongApi + ${HOOKS.join(', ')} only`, sotongOnly));
console.log(row(`StompProvider + ${HOOKS.join(', ')} only`, stompOnly));
if (stomp) console.log(row('@stomp/stompjs (peer, for scale)', stomp));
console.log(`\nimports kept external: ${imports.join(', ')}`);

if (problems.length > 0) {
  for (const problem of problems) console.error(`size: ${problem}`);
  process.exit(1);
}
