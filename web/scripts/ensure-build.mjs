// Before the e2e tests: build web/dist unless it is newer than every source file, and check
// that the server binary exists (SOTONG_BIN, default ../target/release/sotong).
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const newest = (path) => {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
};
const built = join(web, 'dist', 'index.html');
const sources = ['src', 'packages/react/src', 'public', 'index.html', 'vite.config.ts', 'package.json'].map((p) => join(web, p)).filter(existsSync);
if (!existsSync(built) || Math.max(...sources.map(newest)) > statSync(built).mtimeMs) {
  console.log('building web/dist ...');
  execSync('npx vite build', { cwd: web, stdio: 'inherit' });
}
const bin = resolve(web, process.env.SOTONG_BIN ?? '../target/release/sotong');
if (!existsSync(bin)) {
  console.error(`sotong binary not found at ${bin}: run \`cargo build --release -p sotong\` at the repository root, or set SOTONG_BIN`);
  process.exit(1);
}
// The binary serves the web app built into it: it must have been built after web/dist.
if (statSync(bin).mtimeMs < statSync(built).mtimeMs) {
  console.error(`${bin} is older than web/dist, so it carries an older web app (or none): run \`cargo build --release -p sotong\` again`);
  process.exit(1);
}
