import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

// npm 11 blocks dependencies' install scripts and warns about each one allowScripts does not
// cover; package.json denies them explicitly (README, Install), so `npm ci` has nothing to warn about.
test("every dependency's install script is covered by package.json allowScripts (npm ci warns about none)", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.deepEqual(pkg.allowScripts, { esbuild: false, protobufjs: false, zeromq: false });
  const { stdout, stderr } = await promisify(execFile)('npm', ['install-scripts', 'ls'], { cwd: repoRoot });
  assert.match(stdout + stderr, /No packages with unreviewed install scripts/);
});
