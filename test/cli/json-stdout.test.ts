import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

test('sim --json: stdout is the one JSON line, through requests and SIGTERM; logs (warnings, --log-http, "shutting down") go to stderr', async () => {
  // --kv-events-topic alone warns at startup; --log-http logs every request.
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--json', '--log-http', '--kv-events-topic', 'kv@x']);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  try {
    const url = JSON.parse(`{${await waitForOutput(child, /"url":"http:\/\/127\.0\.0\.1:\d+"/, 30_000)}}`).url as string;
    assert.equal((await fetch(`${url}/v1/models`)).status, 200);
    await waitForOutput(child, /"path":"\/v1\/models"/, 30_000);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  assert.equal(code, 0, stderr);
  const lines = stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stdout, got:\n${stdout}`);
  assert.match(JSON.parse(lines[0]).url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(stderr, /no KV events are published/);
  assert.match(stderr, /"msg":"shutting down"/);
});
