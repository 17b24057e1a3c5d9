import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest, createServer as createHttpsServer } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { MODEL, waitFor } from './helpers.js';
import { makeTestPki } from '../helpers/tls.js';

// The drain timeout is an hour: the process must exit when its last response closes, not when the
// timeout ends (the test's own timeout fails it otherwise).
test('SIGTERM drains: in-flight streams finish, then kvgate serve exits 0 without waiting for --drain-timeout', { timeout: 120_000 }, async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20 });
  const child = spawnKvgate(['serve', '--endpoints', sim.url, '--port', '0', '--drain-settle', '100ms', '--drain-timeout', '1h', '--no-access-log']);
  try {
    const line = await waitForOutput(child, /listening on http:\/\/\S+/);
    const url = line.split(' ').pop()!;
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200);
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'drain me', max_tokens: 25, stream: true }) });
    const reader = r.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    const exit = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    child.kill('SIGTERM');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the stream completed');
    assert.equal((text.match(/"text"/g) ?? []).length, 25); // one chunk per token, the last with finish_reason (as vLLM)
    assert.equal(await exit, 0);
  } finally {
    child.kill('SIGKILL');
    await sim.close();
  }
});

test('a client that disconnects aborts the upstream request', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20 });
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(sim.url)] });
  try {
    const ac = new AbortController();
    const r = await fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: 1000, stream: true }), signal: ac.signal });
    await r.body!.getReader().read();
    assert.equal(sim.engine.stats().running, 1);
    ac.abort();
    await waitFor(() => sim.engine.stats().running === 0, 3000);
    await waitFor(() => gw.router.datastore.list()[0].inFlightRequests === 0, 3000);
  } finally {
    await gw.close();
    await sim.close();
  }
});

test('TLS listener and mTLS: the openai client works over HTTPS; a client without a certificate is refused', async () => {
  const pki = makeTestPki();
  const dir = pki.dir;
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const gw = await startGateway({
    port: 0,
    config: loadConfig({ preset: 'kvgate' }),
    endpoints: [parseEndpoint(sim.url)],
    tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), clientCa: join(dir, 'ca.crt') },
    apiKeys: ['k1'],
  });
  try {
    assert.match(gw.url, /^https:/);
    const { Agent } = await import('undici');
    const agent = new Agent({ connect: { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) } });
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k1', maxRetries: 0, fetchOptions: { dispatcher: agent } as never });
    await waitFor(async () => (await client.models.list()).data.length > 0);
    const r = await client.completions.create({ model: MODEL, prompt: 'secure', max_tokens: 2 });
    assert.equal(r.usage!.completion_tokens, 2);
    await agent.close();
    const refused = await new Promise<string>((resolve) => {
      const q = httpsRequest(`${gw.url}/health`, { ca: readFileSync(join(dir, 'ca.crt')) }, (res) => resolve(`status ${res.statusCode}`));
      q.on('error', (e) => resolve(`error ${e.message}`));
      q.end();
    });
    assert.match(refused, /^error/);
  } finally {
    await gw.close();
    await sim.close();
  }
});

test('upstream mTLS: with --upstream-ca/-cert/-key the gateway probes, scrapes and proxies to an HTTPS replica; without its certificate the replica stays unready', async () => {
  const pki = makeTestPki();
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  // An HTTPS front for the replica that demands a client certificate, as a mesh sidecar would.
  const front = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const up = httpRequest(`${sim.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
  const withCert = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(url)], healthIntervalMs: 100, upstreamTls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
  const withoutCert = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(url)], healthIntervalMs: 100, upstreamTls: { ca: pki.ca } });
  try {
    const client = new OpenAI({ baseURL: `${withCert.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await waitFor(async () => (await client.models.list()).data.length > 0);
    const r = await client.completions.create({ model: MODEL, prompt: 'over mTLS', max_tokens: 2 });
    assert.equal(r.usage!.completion_tokens, 2);
    const chunks: string[] = [];
    for await (const c of await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'stream it' }], max_tokens: 3, stream: true })) chunks.push(c.choices[0]?.delta?.content ?? '');
    assert.ok(chunks.join('').length > 0);
    // The metrics scraper reaches the replica too (its queue figures are fresh).
    await waitFor(() => withCert.router.datastore.list()[0].metrics !== undefined);
    // Without the client certificate the TLS handshake fails: no models, and requests fail cleanly.
    await waitFor(async () => (await fetch(`${withoutCert.url}/ready`)).status === 503);
    const refused = await fetch(`${withoutCert.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: 1 }) });
    assert.ok(refused.status === 502 || refused.status === 503, `status ${refused.status}`);
    assert.ok(((await refused.json()) as { error?: unknown }).error);
  } finally {
    await withCert.close();
    await withoutCert.close();
    front.close();
    await sim.close();
  }
});
