import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { MODEL, waitFor } from './helpers.js';

test('SIGKILL of a replica under continuous load loses no request; it is ejected, then readmitted after restart', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant' });
  const b = await startSimServer({ port: 0, profile: 'instant' });
  const port = await freePort();
  const startChild = async () => {
    const c = spawnKvgate(['sim', '--port', String(port), '--profile', 'instant', '--inter-token-latency', '2']);
    await waitForOutput(c, /listening on/);
    return c;
  };
  let child = await startChild();
  const victim = `127.0.0.1:${port}`;
  const gw = await startGateway({
    port: 0,
    config: loadConfig({ preset: 'round-robin' }),
    endpoints: [a.url, b.url, `http://${victim}`].map((u) => parseEndpoint(u)),
    healthIntervalMs: 100,
    cooldownMs: 200,
  });
  try {
    let ok = 0;
    let failed = 0;
    const servedBy = new Map<string, number>();
    let running = true;
    const worker = async () => {
      while (running) {
        const r = await fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'keep going', max_tokens: 3 }) });
        await r.text();
        if (r.status === 200) ok++;
        else failed++;
        const s = r.headers.get('x-gateway-destination-endpoint-served') ?? 'none';
        servedBy.set(s, (servedBy.get(s) ?? 0) + 1);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await waitFor(() => (servedBy.get(victim) ?? 0) > 10);
    child.kill('SIGKILL');
    await waitFor(() => gw.router.datastore.get(victim)!.healthy === false, 5000);
    const before = servedBy.get(victim) ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(servedBy.get(victim) ?? 0, before, 'no traffic to the ejected replica');
    child = await startChild();
    await waitFor(() => gw.router.datastore.get(victim)!.healthy === true, 10_000);
    await waitFor(() => (servedBy.get(victim) ?? 0) > before + 5, 10_000);
    running = false;
    await Promise.all(workers);
    assert.equal(failed, 0, `${failed} requests failed out of ${ok + failed}`);
    assert.ok(ok > 100);
  } finally {
    child.kill('SIGKILL');
    await gw.close();
    await a.close();
    await b.close();
  }
});

test('a replica that answers 503 is retried on the next endpoint', async () => {
  const bad = await startSimServer({ port: 0, profile: 'instant', failureInjectionRate: 100, failureTypes: ['server_error'] });
  const good = await startSimServer({ port: 0, profile: 'instant' });
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'round-robin' }), endpoints: [bad.url, good.url].map((u) => parseEndpoint(u)), healthIntervalMs: 5000 });
  try {
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: `p${i}`, max_tokens: 1 }) });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), good.url.replace('http://', ''));
      await r.text();
    }
  } finally {
    await gw.close();
    await bad.close();
    await good.close();
  }
});

test('once bytes have flowed, a dying upstream ends the SSE stream with an error event', async () => {
  const port = await freePort();
  const child = spawnKvgate(['sim', '--port', String(port), '--profile', 'instant', '--inter-token-latency', '20']);
  await waitForOutput(child, /listening on/);
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'random' }), endpoints: [parseEndpoint(`127.0.0.1:${port}`)], healthIntervalMs: 5000 });
  try {
    const r = await fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'long', max_tokens: 500, stream: true }) });
    const reader = r.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    child.kill('SIGKILL');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /"code":"upstream_failed"/);
    assert.ok(!text.includes('[DONE]'));
    // The client got a 200, but the request failed: the error counter (under GIE's code for a
    // model server's failure) and the dashboard count it (it was recorded as a success).
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`inference_objective_request_error_total\\{model_name="${MODEL.replace(/[./]/g, '\\$&')}",target_model_name="[^"]+",error_code="ModelServerError"\\} 1`));
    const snap = (await (await fetch(`${gw.url}/dashboard/snapshot`)).json()) as { snapshot: { replicas: { errors: number }[] } };
    assert.equal(snap.snapshot.replicas[0].errors, 1);
  } finally {
    child.kill('SIGKILL');
    await gw.close();
  }
});

test('/tokenize, /v1/embeddings and /version fail over from a replica that went down before the health probes saw it', async () => {
  const dead = await startSimServer({ port: 0, profile: 'instant' });
  const live = await startSimServer({ port: 0, profile: 'instant' });
  // One probe at start (both serve the model), none after: the dead replica stays "healthy".
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'round-robin' }), endpoints: [dead.url, live.url].map((u) => parseEndpoint(u)), healthIntervalMs: 3_600_000, random: () => 0 });
  try {
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    await dead.close();
    const post = (path: string, body: unknown) => fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'util-1' }, body: JSON.stringify(body) });
    const answers = [await post('/tokenize', { model: MODEL, prompt: 'abc' }), await post('/v1/embeddings', { model: MODEL, input: 'abc' }), await fetch(`${gw.url}/version`)];
    for (const r of answers) {
      const text = await r.text();
      assert.equal(r.status, 200, `${r.url}: ${text}`); // was 500 internal_error on the dead replica
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), `127.0.0.1:${live.port}`);
    }
    assert.equal(answers[0].headers.get('x-request-id'), 'util-1');
  } finally {
    await gw.close();
    await live.close();
  }
});

test('a utility request whose every replica is down gets 503 upstream_failed naming the replica, not a 500', async () => {
  const dead = await startSimServer({ port: 0, profile: 'instant' });
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'round-robin' }), endpoints: [parseEndpoint(dead.url)], healthIntervalMs: 3_600_000 });
  try {
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    await dead.close();
    const r = await fetch(`${gw.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'abc' }) });
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(r.status, 503);
    assert.equal(body.error.code, 'upstream_failed');
    assert.match(body.error.message, new RegExp(`127\\.0\\.0\\.1:${dead.port}: ECONNREFUSED`));
  } finally {
    await gw.close();
  }
});
