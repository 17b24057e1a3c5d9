// A model's replicas being down is not the model not existing: 503 no_ready_endpoints with
// Retry-After while an endpoint of the pool is known to serve it (ready or not, in the subset hint
// or not), 404 model_not_found only when none is — through the gateway and through the EPP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { post, waitFor } from '../gateway/helpers.js';
import { bothIngresses as both } from '../helpers/both-ingresses.js';

const chat = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'hello' }], max_tokens: 1 });

test('every replica of a model down: 503 no_ready_endpoints with Retry-After (openai client and EPP), the model still listed; an unknown model stays 404', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'modelA' });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'modelB' });
  const bId = `127.0.0.1:${b.port}`;
  const env = await both([a, b]);
  const client = new OpenAI({ baseURL: `${env.gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  try {
    assert.equal((await client.chat.completions.create(chat('modelB'))).choices.length, 1, 'modelB is served while its replica is up');
    await b.close();
    // Both ingresses' pools eject it on their next /health probe (connection refused).
    await waitFor(() => [env.gw.router, env.epp.router].every((r) => r.datastore.get(bId)?.healthy === false));

    const err = await client.chat.completions.create(chat('modelB')).then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'no_ready_endpoints');
    assert.equal(err.headers?.get('retry-after'), '1');
    assert.equal(err.headers?.get('x-llm-d-request-dropped-reason'), 'rejected-no-endpoints');

    const viaEpp = await env.envoy('/v1/chat/completions', chat('modelB'));
    assert.equal(viaEpp.status, 503, viaEpp.body.toString());
    assert.equal(JSON.parse(viaEpp.body.toString()).error.code, 'no_ready_endpoints');
    assert.equal(viaEpp.headers['retry-after'], '1');

    // The ejected replica's last known list is kept: /v1/models still names modelB, as the 503 says it exists.
    const listed = [];
    for await (const m of client.models.list()) listed.push(m.id);
    assert.deepEqual(listed, ['modelA', 'modelB']);

    // A model no endpoint of the pool serves is still 404 through both, and modelA is unaffected.
    for (const r of [await post(`${env.gw.url}/v1/chat/completions`, chat('modelC')), await env.envoy('/v1/chat/completions', chat('modelC'))]) {
      const body = 'json' in r ? r.json : JSON.parse(r.body.toString());
      assert.equal(r.status, 404);
      assert.deepEqual(body.error, { message: 'The model `modelC` does not exist.', type: 'not_found_error', param: 'model', code: 'model_not_found' });
    }
    assert.equal((await client.chat.completions.create(chat('modelA'))).model, 'modelA');
    assert.equal((await env.envoy('/v1/chat/completions', chat('modelA'))).status, 200);
  } finally {
    await env.close();
    await a.close();
  }
});

test('a subset hint that leaves no eligible endpoint: 503 when the pool serves the model elsewhere, 404 when nothing in the pool serves it', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'modelA' });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'modelB' });
  const [aId, bId] = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
  const env = await both([a, b]);
  try {
    const reply = async (model: string, subset: string[]) => {
      const r = await env.envoy('/v1/chat/completions', chat(model), {}, subset);
      return { status: r.status, code: r.status === 200 ? undefined : JSON.parse(r.body.toString()).error.code, retryAfter: r.headers['retry-after'], destination: r.destination };
    };
    assert.deepEqual(await reply('modelA', [aId]), { status: 200, code: undefined, retryAfter: undefined, destination: aId });
    // Only modelB's replica in the subset: modelA exists (on a replica the hint leaves out).
    assert.deepEqual(await reply('modelA', [bId]), { status: 503, code: 'no_ready_endpoints', retryAfter: '1', destination: undefined });
    // An address that is not in the pool: nothing eligible, modelA exists.
    assert.deepEqual(await reply('modelA', ['10.9.9.9:8000']), { status: 503, code: 'no_ready_endpoints', retryAfter: '1', destination: undefined });
    // A model served nowhere in the pool is 404 whatever the subset.
    assert.deepEqual(await reply('modelC', [bId]), { status: 404, code: 'model_not_found', retryAfter: undefined, destination: undefined });
    assert.deepEqual(await reply('modelC', ['10.9.9.9:8000']), { status: 404, code: 'model_not_found', retryAfter: undefined, destination: undefined });
  } finally {
    await env.close();
    await a.close();
    await b.close();
  }
});

test('a model an endpoint answered 404 for is dropped from it: once that endpoint is down too, the model is 404, not 503', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', model: 'modelA', loraModules: [{ name: 'x', path: '/adapters/x' }] });
  const id = `127.0.0.1:${sim.port}`;
  // One probe at start, then none: what the gateway learns afterwards comes from the requests.
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(sim.url)], healthIntervalMs: 3_600_000, ejectAfter: 1 });
  try {
    await waitFor(() => gw.router.datastore.get(id)?.models !== undefined);
    assert.ok(gw.router.datastore.get(id)!.models!.some((m) => m.id === 'x'));
    // The adapter goes away behind the gateway's back; its next request for it gets vLLM's 404.
    const un = await fetch(`${sim.url}/v1/unload_lora_adapter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: 'x' }) });
    assert.equal(un.status, 200, await un.text());
    const first = await post(`${gw.url}/v1/chat/completions`, chat('x'));
    assert.equal(first.status, 404, first.text);
    assert.equal(first.headers.get('x-gateway-destination-endpoint-served'), id, 'answered by the replica');
    assert.ok(!gw.router.datastore.get(id)!.models!.some((m) => m.id === 'x'), 'dropped from the endpoint');
    // The replica goes down and is ejected after one failed request (ejectAfter 1).
    await sim.close();
    const down = await post(`${gw.url}/v1/chat/completions`, chat('modelA'));
    assert.equal(down.status, 503, down.text);
    await waitFor(() => gw.router.datastore.get(id)?.healthy === false);
    const after = await post(`${gw.url}/v1/chat/completions`, chat('modelA'));
    assert.equal(after.status, 503, after.text);
    assert.equal(after.json.error.code, 'no_ready_endpoints', 'modelA is known on the ejected replica');
    const gone = await post(`${gw.url}/v1/chat/completions`, chat('x'));
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json.error.code, 'model_not_found');
  } finally {
    await gw.close();
    await sim.close().catch(() => undefined);
  }
});

test('every replica of a model left the pool (an InferencePool lists ready pods only): still 503 for a while, not 404; a model never served stays 404', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'modelA' });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'modelB' });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-left-'));
  const file = join(dir, 'endpoints.txt');
  writeFileSync(file, `127.0.0.1:${a.port}\n127.0.0.1:${b.port}\n`);
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpointsFile: file, healthIntervalMs: 100 });
  try {
    await waitFor(() => gw.router.datastore.list().length === 2 && gw.router.datastore.list().every((e) => e.models !== undefined));
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('modelB'))).status, 200);
    // modelB's only pod becomes unready: the pool's source stops listing it.
    writeFileSync(file, `127.0.0.1:${a.port}\n`);
    await waitFor(() => gw.router.datastore.list().length === 1);
    const r = await post(`${gw.url}/v1/chat/completions`, chat('modelB'));
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'no_ready_endpoints');
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('modelC'))).status, 404);
  } finally {
    await gw.close();
    await a.close();
    await b.close();
  }
});
