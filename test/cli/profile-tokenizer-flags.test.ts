import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';

/** One message naming the flag, exit code 1, no stack trace. */
function assertFlagError(r: { code: number | null; stderr: string }, message: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

// Before: "kvgate: unknown profile "qwen" …" and "kvgate: cannot read tokenizer file nope.json:
// ENOENT …" from start-up, with no flag named (up, sim, serve, epp).
test('kvgate up and sim: an unknown --profile is refused naming the flag and listing the profiles', async () => {
  for (const cmd of ['up', 'sim']) {
    const r = await runKvgate([cmd, '--profile', 'qwen', '--port', '0', ...(cmd === 'up' ? ['--sim-base-port', '0'] : [])]);
    assertFlagError(r, /option '--profile <name>' argument 'qwen' is invalid\. unknown profile "qwen" \(available: .*instant.*qwen2\.5-3b-tpu-v6e/);
  }
});

test('--tokenizer: a typo\'d keyword, a missing file or a directory is refused naming the flag and the accepted forms', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-tok-'));
  const up = await runKvgate(['up', '--tokenizer', 'qwne', '--port', '0', '--sim-base-port', '0']);
  assertFlagError(up, /option '--tokenizer <spec>' argument 'qwne' is invalid\. --tokenizer must be estimate, qwen or the path of a tokenizer\.json: no file "qwne"/);
  const serve = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--port', '0', '--tokenizer', join(dir, 'tokenizer.json')]);
  assertFlagError(serve, /--tokenizer must be estimate, qwen or the path of a tokenizer\.json: no file ".*tokenizer\.json"/);
  const epp = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--grpc-port', '0', '--metrics-port', '0', '--tokenizer', dir]);
  assertFlagError(epp, /--tokenizer must be estimate, qwen or the path of a tokenizer\.json: ".*" is not a file/);
  const sim = await runKvgate(['sim', '--port', '0', '--tokenizer', 'nope.json']);
  assertFlagError(sim, /^kvgate: --tokenizer must be estimate, qwen or the path of a tokenizer\.json: no file "nope\.json"$/m);
  // A file that exists but is not a tokenizer still fails when loaded, naming the file.
  writeFileSync(join(dir, 'bad.json'), 'not json');
  const bad = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--port', '0', '--tokenizer', join(dir, 'bad.json')]);
  assertFlagError(bad, /cannot read tokenizer file .*bad\.json/);
});

test('kvgate sim --force-dummy-tokenizer still starts with vLLM\'s --tokenizer NAME, which it ignores', async () => {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--tokenizer', 'Qwen/Qwen3-8B', '--force-dummy-tokenizer']);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  await waitForOutput(child, /kvgate sim listening on http:\/\//);
  child.kill('SIGTERM');
  assert.equal(await exit, 0);
});
