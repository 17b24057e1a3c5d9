import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

async function upFleet(extra: string[] = []) {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', ...extra]);
  const line = await waitForOutput(child, /fleet ready: (http:\/\/\S+)/, 30_000);
  return { child, url: line.split(' ').pop()! };
}

test('verify against kvgate up passes every row', async () => {
  const { child, url } = await upFleet();
  try {
    const r = await runKvgate(['verify', '--url', url, '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.rows.map((x: { test: string; status: string }) => `${x.test}:${x.status}`), [
      'Health Check:PASS',
      'Models List:PASS',
      'Completion:PASS',
      'Load Distribution:PASS',
      'Cache Routing:PASS',
      'Throughput:PASS',
    ]);
    const cache = out.rows[4].data;
    assert.ok(cache.speedup_pct > 30 && cache.cached_tokens > 2000, JSON.stringify(cache));
  } finally {
    child.kill('SIGTERM');
  }
});

test('verify against a fleet without prefix caching fails Cache Routing with the diagnosis, exit 1', async () => {
  const { child, url } = await upFleet(['--no-enable-prefix-caching']);
  try {
    const r = await runKvgate(['verify', '--url', url], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\| Cache Routing\s+\| FAIL/);
    assert.match(r.stdout, /prefix caching looks disabled — vllm:cache_config_info reports enable_prefix_caching=False/);
    assert.match(r.stdout, /\| Health Check\s+\| PASS/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('an unreachable URL fails Health with a readable diagnosis, no stack trace', async () => {
  const port = await freePort();
  const r = await runKvgate(['verify', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /connection refused at http:\/\/127\.0\.0\.1:\d+/);
  assert.doesNotMatch(r.stdout + r.stderr, /at .*\.ts:\d+/);
});

test('a server that is not OpenAI-compatible fails Models List', async () => {
  const srv = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end('<html>nope</html>'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const r = await runKvgate(['verify', '--url', `http://127.0.0.1:${(srv.address() as AddressInfo).port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /not an OpenAI server: \/v1\/models returned 404/);
  } finally {
    srv.close();
  }
});

test('a bad --url is named', async () => {
  const r = await runKvgate(['verify', '--url', 'localhost:8080']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--url must start with http/);
});
