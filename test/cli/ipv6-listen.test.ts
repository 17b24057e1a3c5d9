// kvgate serve and kvgate epp on an IPv6 --host (bare ::1 or bracketed [::1]), in front of a
// model server on ::1 named [::1]:port. Before: `epp --host ::1` bound gRPC at "::1:0" (read as
// host ":", "No address added"), and `serve --host [::1]` looked "[::1]" up as a name (ENOTFOUND).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startSimServer } from '../../src/sim/server.js';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { EnvoyLikeClient, headerOf, healthCheck, hv, type Resp } from '../extproc/client.js';

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exit;
}

test('kvgate serve --host [::1]: listens on ::1, prints a bracketed URL, and routes to an endpoint [::1]:port', async () => {
  const sim = await startSimServer({ host: '::1', port: 0, profile: 'instant' });
  const endpoint = `[::1]:${new URL(sim.url).port}`;
  const child = spawnKvgate(['serve', '--host', '[::1]', '--port', '0', '--endpoints', endpoint, '--health-interval', '50ms']);
  try {
    const url = (await waitForOutput(child, /listening on (http:\/\/\S+)/, 60_000)).replace(/^listening on /, '');
    assert.match(url, /^http:\/\/\[::1\]:\d+$/);
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: sim.options.model, prompt: 'hello', max_tokens: 2 }) });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json() as { object: string }).object, 'text_completion');
  } finally {
    await stop(child);
    await sim.close();
  }
});

test('kvgate epp --host ::1: ext_proc, gRPC health and metrics listen on ::1; the ready line is bracketed; the pick names [::1]:port', async () => {
  const sim = await startSimServer({ host: '::1', port: 0, profile: 'instant' });
  const endpoint = `[::1]:${new URL(sim.url).port}`;
  const child = spawnKvgate(['epp', '--host', '::1', '--endpoints', endpoint, '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--secure-serving', 'false', '--health-interval', '50ms']);
  try {
    const line = await waitForOutput(child, /kvgate epp ready: .*\n/, 60_000);
    const m = /ext_proc \[::1\]:(\d+) \(plaintext\), health (\d+), metrics (\d+)/.exec(line);
    assert.ok(m, line);
    const [grpcPort, healthPort, metricsPort] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.equal(await healthCheck(healthPort, 'liveness', '::1'), 1, 'SERVING');
    assert.equal((await fetch(`http://[::1]:${metricsPort}/health`)).status, 200);
    const client = new EnvoyLikeClient(grpcPort, undefined, '::1');
    try {
      const headers = { request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] }, end_of_stream: false } };
      const body = { request_body: { body: Buffer.from(JSON.stringify({ model: sim.options.model, prompt: 'x' })), end_of_stream: true } };
      const { responses, error } = await client.exchange([headers, body], (got: Resp[]) => got.some((r) => r.request_headers || r.immediate_response));
      assert.equal(error, undefined);
      assert.equal(headerOf(responses[0].request_headers?.response?.header_mutation?.set_headers, 'x-gateway-destination-endpoint'), endpoint);
    } finally {
      client.close();
    }
  } finally {
    await stop(child);
    await sim.close();
  }
});

test('--host: brackets around anything but an IPv6 address are an error naming the flag', async () => {
  const r = await runKvgate(['serve', '--host', '[127.0.0.1]', '--port', '0', '--endpoints', '127.0.0.1:9']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--host: "\[127\.0\.0\.1\]" is not a bracketed IPv6 address \(e\.g\. \[::1\]\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('kvgate epp without --host listens on every interface, IPv6 and IPv4 (0.0.0.0 left it unreachable in an IPv6-only cluster)', async () => {
  const child = spawnKvgate(['epp', '--endpoints', '127.0.0.1:9', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--secure-serving', 'false', '--health-interval', '1s']);
  try {
    const line = await waitForOutput(child, /kvgate epp ready: .*\n/, 60_000);
    const m = /ext_proc \[::\]:(\d+) \(plaintext\), health (\d+), metrics (\d+)/.exec(line);
    assert.ok(m, line);
    const [healthPort, metricsPort] = [Number(m[2]), Number(m[3])];
    for (const host of ['::1', '127.0.0.1']) {
      assert.equal(await healthCheck(healthPort, 'liveness', host), 1, `gRPC health on ${host}`);
      assert.equal((await fetch(`http://${host === '::1' ? '[::1]' : host}:${metricsPort}/health`)).status, 200, `metrics on ${host}`);
    }
  } finally {
    await stop(child);
  }
});
