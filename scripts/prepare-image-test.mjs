#!/usr/bin/env node
// Builds what test/image/image.test.ts needs before the test suite starts, so that the test itself
// meets cached layers: the local Node 20 base (scripts/image-test-base.sh; 75-110 s cold, mostly the
// Debian download) and the kvgate image (scripts/image.mjs with buildah --isolation chroot; 170 s
// cold on the 2-core machine, mostly npm ci and copying node_modules). Building here, alone, keeps minutes of npm ci / tsc / esbuild from running beside
// the other tests and inside one test's timeout. Output goes to stderr (the suite's TAP is stdout).
// Without buildah or mmdebstrap it only says so: the image test then fails with the install hint.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const IMAGE_TEST_TAG = 'localhost/kvgate:image-test';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const have = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
if (!have('buildah') || !have('mmdebstrap')) {
  console.error('prepare-image-test: buildah or mmdebstrap missing (apt-get install buildah mmdebstrap); skipping the prebuild');
  process.exit(0);
}
const t0 = Date.now();
const base = execFileSync('bash', [join(root, 'scripts', 'image-test-base.sh')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1);
const t1 = Date.now();
const r = spawnSync(process.execPath, [join(root, 'scripts', 'image.mjs'), '--builder', 'buildah', '--isolation', 'chroot', '--base-image', base, '--tag', IMAGE_TEST_TAG], { cwd: root, stdio: ['ignore', 2, 2] });
console.error(`prepare-image-test: base ${((t1 - t0) / 1000).toFixed(1)} s, image ${((Date.now() - t1) / 1000).toFixed(1)} s${r.status === 0 ? '' : ' (build FAILED; the image test will show why)'}`);
process.exit(0);
