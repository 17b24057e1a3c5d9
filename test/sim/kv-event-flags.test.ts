import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

/** Starts `kvgate sim` with `args`, returns everything it printed up to its ready line, then stops it. */
async function startupOutput(args: string[]): Promise<string> {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--json', ...args]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitForOutput(child, /"url":"http:\/\/127\.0\.0\.1:\d+"/, 30_000);
    return out;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

test('KV-event flags without an endpoint say that no events are published (they used to be accepted silently)', async () => {
  const out = await startupOutput(['--kv-events-topic', 'kv@x', '--kv-events-format', 'map']);
  assert.match(out, /--kv-events-topic, --kv-events-format given, but no KV events are published: add --kv-events-endpoint/);
});

test('a plain start, or the flags with an endpoint, print no such warning', async () => {
  assert.doesNotMatch(await startupOutput([]), /no KV events are published/);
  assert.doesNotMatch(await startupOutput(['--kv-events-endpoint', 'tcp://127.0.0.1:0', '--kv-events-topic', 'kv@x']), /no KV events are published/);
});
