// Byte-size flags take what --help shows as their default ("16 MiB"), not only bare integers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { startSimServer } from '../../src/sim/server.js';
import { bytesArg } from '../../src/cli/parse.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

test('byte sizes: bare bytes, or a number with B, KB/MB/GB (1000^n) or KiB/MiB/GiB (1024^n); anything else names the flag', () => {
  const p = bytesArg('--max-body-bytes', 1);
  assert.equal(p('4096'), 4096);
  assert.equal(p('16 MiB'), 16 * 1024 * 1024); // the help's own "(default: 16 MiB)"
  assert.equal(p('16MiB'), 16 * 1024 * 1024);
  assert.equal(p('512kib'), 512 * 1024);
  assert.equal(p('1.5GB'), 1.5e9);
  assert.equal(p('2KB'), 2000);
  assert.equal(p('0.5KiB'), 512);
  // The one-letter units are decimal, as README says: 16M is 16,000,000 bytes, not 16 MiB.
  assert.equal(p('16M'), 16_000_000);
  assert.equal(p('2k'), 2000);
  assert.equal(p('1G'), 1e9);
  assert.equal(p('16b'), 16);
  for (const bad of ['16 MiBs', '0', '-1', '1.5', '1.0001KiB', 'lots', '', '1e3', '16Mi', '1T']) {
    assert.throws(() => p(bad), (e: Error) => e.message.includes(`--max-body-bytes must be a whole number of bytes >= 1`) && e.message.includes(`(got "${bad}")`), bad);
  }
});

test('kvgate serve --max-body-bytes 1KiB starts and refuses a 2 KB body with 413 naming 1024 bytes', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const child = spawnKvgate(['serve', '--endpoints', sim.url, '--port', '0', '--max-body-bytes', '1KiB', '--max-buffered-bytes', '64 MiB', '--max-queue-bytes', '1GiB', '--no-access-log']);
  try {
    const line = await waitForOutput(child, /listening on http:\/\/\S+/);
    const url = /http:\/\/\S+/.exec(line)![0];
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'x'.repeat(2000) }) });
    assert.equal(r.status, 413);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /the limit is 1024/);
  } finally {
    child.kill('SIGKILL');
    await sim.close();
  }
  const bad = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--max-queue-bytes', 'a lot']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--max-queue-bytes must be a whole number of bytes >= 0, bare or with a unit such as 512KiB, 16MiB or 1GB \(got "a lot"\)/);
});
