import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runKvgate } from '../helpers/cli.js';

type Row = { test: string; status: string; result: string; diagnosis?: string; data?: Record<string, unknown> };

/** An OpenAI-shaped server at its root: /health, /v1/models with one model; every completion answers 500. */
async function brokenCompletions(): Promise<{ srv: Server; base: string }> {
  const srv = createServer((req, res) => {
    if (req.url === '/health') return void res.writeHead(200).end();
    if (req.url === '/v1/models') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
    req.resume();
    res.writeHead(req.url === '/v1/completions' || req.url === '/v1/chat/completions' ? 500 : 404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom', type: 'server_error', code: null } }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
}

test('verify: a Throughput row where every request failed says so (no "P50 NaN ms") and names the concurrency used', async () => {
  const { srv, base } = await brokenCompletions();
  try {
    const r = await runKvgate(['verify', '--url', base, '--requests', '2', '--cache-requests', '2', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const row = (JSON.parse(r.stdout).rows as Row[]).find((x) => x.test === 'Throughput')!;
    assert.equal(row.status, 'FAIL');
    assert.equal(row.result, '0.0 req/s, no request succeeded (2 requests, 2 concurrent)');
    assert.equal(row.data!.p50_ms, null);
    assert.equal(row.data!.concurrency, 2, '--parallel 10 with 2 requests runs 2 at once');
  } finally {
    srv.close();
  }
});

test('verify --url ending in /v1 (an OpenAI base_url) fails Models List with the URL to give instead', async () => {
  const { srv, base } = await brokenCompletions();
  try {
    const r = await runKvgate(['verify', '--url', `${base}/v1`, '--json']);
    assert.equal(r.code, 1);
    const row = (JSON.parse(r.stdout).rows as Row[]).find((x) => x.test === 'Models List')!;
    assert.equal(row.status, 'FAIL');
    assert.ok(row.diagnosis!.endsWith(` — --url ends in /v1 and verify adds /v1/models itself: give ${base}`), row.diagnosis);
  } finally {
    srv.close();
  }
});

test('verify --model nope: Load Distribution says every probe failed, with the status and message (not "does not report the serving replica")', async () => {
  const { startSimFleet } = await import('../../src/sim/fleet.js');
  const fleet = await startSimFleet({ replicas: 1, basePort: 0, profile: 'instant' });
  try {
    const r = await runKvgate(['verify', '--url', fleet.replicas[0].url, '--model', 'nope', '--requests', '2', '--cache-requests', '2', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const rows = JSON.parse(r.stdout).rows as Row[];
    const dist = rows.find((x) => x.test === 'Load Distribution')!;
    assert.equal(dist.status, 'FAIL');
    assert.equal(dist.result, '6 of 6 probe requests failed');
    assert.equal(dist.diagnosis, 'all 6 probe requests failed — HTTP 404: The model `nope` does not exist.');
    const tp = rows.find((x) => x.test === 'Throughput')!;
    assert.equal(tp.diagnosis, 'all 2 requests failed — HTTP 404: The model `nope` does not exist.');
    assert.equal(rows.find((x) => x.test === 'Cache Routing')!.diagnosis, 'The model `nope` does not exist.');
  } finally {
    await fleet.close();
  }
  // The same from a server whose completions all answer 500.
  const { srv, base } = await brokenCompletions();
  try {
    const r = await runKvgate(['verify', '--url', base, '--requests', '2', '--cache-requests', '2', '--json']);
    const dist = (JSON.parse(r.stdout).rows as Row[]).find((x) => x.test === 'Load Distribution')!;
    assert.equal(dist.status, 'FAIL');
    assert.equal(dist.diagnosis, 'all 6 probe requests failed — HTTP 500: boom');
  } finally {
    srv.close();
  }
});
