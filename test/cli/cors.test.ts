import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';

const preflight = (url: string, origin: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });

test('serve --allowed-origins reaches the gateway: a listed origin gets its preflight, another a 400', async () => {
  const child = spawnKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--allowed-origins', 'https://ok.example,http://localhost:3000']);
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const url = (await waitForOutput(child, /http:\/\/\S+(?= \()/, 30_000)).trim();
    const ok = await preflight(url, 'http://localhost:3000');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    assert.equal((await preflight(url, 'https://other.example')).status, 400);
  } finally {
    child.kill('SIGINT');
    await exited;
  }
});

test('--allowed-origins: a value that is not an origin, or one given with --no-cors, is an error naming the flag', async () => {
  const bad = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--allowed-origins', 'ok.example']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--allowed-origins.*"ok\.example" is not an origin/);
  const both = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--allowed-origins', '*', '--no-cors']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--allowed-origins and --no-cors contradict each other/);
});
