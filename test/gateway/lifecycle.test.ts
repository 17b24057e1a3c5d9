import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import OpenAI from 'openai';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/discovery/static-endpoints.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { MODEL, waitFor } from './helpers.js';

test('SIGTERM drains: in-flight streams finish, then kvgate serve exits 0', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20 });
  const child = spawnKvgate(['serve', '--endpoints', sim.url, '--port', '0', '--drain-settle', '100ms', '--no-access-log']);
  try {
    const line = await waitForOutput(child, /listening on http:\/\/\S+/);
    const url = line.split(' ').pop()!;
    await waitFor(async () => (await fetch(`${url}/ready`)).status === 200);
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'drain me', max_tokens: 25, stream: true }) });
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
    assert.equal((text.match(/"text"/g) ?? []).length, 26);
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
    const r = await fetch(`${gw.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: 1000, stream: true }), signal: ac.signal });
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
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-tls-'));
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=kvgate-test-ca']);
  for (const n of ['server', 'client']) {
    sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n === 'server' ? '127.0.0.1' : 'client'}`, '-addext', 'subjectAltName=IP:127.0.0.1']);
    sh(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '1', '-copy_extensions', 'copy']);
  }
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
