#!/usr/bin/env node
// Runs every test/**/*.test.ts file with node:test through tsx.
// Node 20's test runner neither globs nor picks up .ts files by itself, so the file list is
// collected here and passed explicitly. Extra arguments filter by substring of the path:
//   npm test -- router gateway
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files matched', filters.join(' '));
  process.exit(1);
}
// Browser tests drive Debian's Chromium (no browser download at run time). On a fresh machine the
// test command installs it when it can (root with apt-get), and otherwise says what to run.
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && files.some((f) => readFileSync(join(root, f), 'utf8').includes(CHROMIUM))) {
  const aptGet = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => existsSync(p));
  if (aptGet && process.getuid?.() === 0) {
    console.error('run-tests: Chromium is missing; installing Debian\'s chromium (apt-get, about a minute)…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync(aptGet, ['update', '-qq'], { stdio: 'inherit', env });
    const install = update.status === 0 ? spawnSync(aptGet, ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env }) : update;
    if (install.status !== 0) console.error('run-tests: installing chromium failed; the browser tests will fail. Run: sudo apt-get install chromium');
  } else {
    console.error(`run-tests: the browser tests need Chromium at ${CHROMIUM} and this user cannot install it.\n  Debian/Ubuntu: sudo apt-get install chromium   (then run npm test again)`);
  }
}

// Tests start the CLI as users run it, compiled (test/helpers/cli.ts): rebuild dist/ first when a
// source is newer than it (a fresh clone's `npm ci` has just built it; an edited checkout has not).
const newest = (dir) => {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(p) : st.mtimeMs);
  }
  return t;
};
const builtAt = ['dist/cli/run.js', 'dist/dashboard/index.html'].reduce((t, f) => Math.min(t, existsSync(join(root, f)) ? statSync(join(root, f)).mtimeMs : 0), Infinity);
const sourcesAt = Math.max(newest(join(root, 'src')), newest(join(root, 'web')), statSync(join(root, 'tsconfig.json')).mtimeMs);
if (sourcesAt > builtAt) {
  console.error('run-tests: dist/ is older than the sources; building (npm run build)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const built = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (built.status !== 0) {
    console.error('run-tests: npm run build failed; fix the errors above and run the tests again');
    process.exit(1);
  }
}

// The container-image test builds an image: minutes when nothing is cached. Build it first, alone
// (scripts/prepare-image-test.mjs), so the test meets cached layers and does not load the machine
// under the other tests.
if (files.some((f) => f.startsWith('test/image/'))) spawnSync(process.execPath, [join(root, 'scripts', 'prepare-image-test.mjs')], { cwd: root, stdio: ['ignore', 2, 2] });

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// TAP when not on a terminal, whatever the Node version: CI reads its "# tests / # pass / # fail"
// summary lines, and Node 23+ would print the spec reporter instead.
const reporter = process.stdout.isTTY ? ['--test-reporter=spec', '--test-reporter-destination=stdout'] : ['--test-reporter=tap', '--test-reporter-destination=stdout'];
// Beside it, on stderr, the files that took longest (scripts/test-file-times.mjs).
reporter.push(`--test-reporter=${join(root, 'scripts', 'test-file-times.mjs')}`, '--test-reporter-destination=stderr');
// The image test runs containers (buildah): it runs after the rest, alone, with a longer per-file
// limit, so it neither slows the other tests nor times out behind them on a busy machine.
const heavy = files.filter((f) => f.startsWith('test/image/'));
const rest = files.filter((f) => !heavy.includes(f));
const run = (list, timeoutMs) =>
  new Promise((resolve) => {
    if (list.length === 0) return resolve(0);
    const args = ['--import', 'tsx', '--test', ...reporter, `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...list];
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
// Per-file limits guard against hangs only; a busy machine makes files slower, not wrong.
const first = await run(rest, 300_000);
const second = await run(heavy, 900_000);
process.exit(first || second);
