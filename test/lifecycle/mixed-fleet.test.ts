// Issue acceptance: a mixed fleet — two base models, plus a LoRA adapter loaded on one replica —
// serves 200 requests per model with 0 errors through the gateway and through Envoy + the EPP;
// a model no replica serves is a 404 with the OpenAI body through both. And the lora-affinity
// scorer, fed by vLLM's lora_requests_info from sims with --max-loras, keeps an adapter where it
// is already loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';
import { post, waitFor } from '../gateway/helpers.js';

test('two base models and a LoRA adapter on one replica: 200 requests per model, 0 errors, through gateway and EPP', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'org/a', loraModules: [{ name: 'a-sql', path: '/adapters/a-sql' }] });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'org/b' });
  const endpoints = [a, b].map((s) => parseEndpoint(s.url));
  const urls = new Map(endpoints.map((e) => [e.id, e.url]));
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100 });
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100 });
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    await waitFor(() => [gw.router, epp.router].every((r) => r.datastore.list().every((e) => e.models !== undefined)));
    const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string; parent?: string | null }[] };
    assert.deepEqual(models.data.map((m) => m.id), ['a-sql', 'org/a', 'org/b']);
    assert.equal(models.data.find((m) => m.id === 'a-sql')!.parent, 'org/a', "the adapter's base model, as vLLM lists it");
    const home: Record<string, string> = { 'org/a': `127.0.0.1:${a.port}`, 'a-sql': `127.0.0.1:${a.port}`, 'org/b': `127.0.0.1:${b.port}` };
    // 200 requests per model through each ingress, 8 at a time.
    const jobs = Object.keys(home).flatMap((model) => Array.from({ length: 200 }, (_, i) => ({ model, i })));
    const worker = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const { model, i } = job;
        const g = await post(`${gw.url}/v1/completions`, { model, prompt: `gateway ${i} for ${model}`, max_tokens: 1 });
        assert.equal(g.status, 200, `${model} via gateway: ${g.text}`);
        assert.equal(g.headers.get('x-gateway-destination-endpoint-served'), home[model]);
        const e = await throughEnvoy(client, { path: '/v1/completions', body: JSON.stringify({ model, prompt: `epp ${i} for ${model}`, max_tokens: 1 }) }, (id) => urls.get(id)!);
        assert.equal(e.status, 200, `${model} via EPP: ${e.body.toString()}`);
        assert.equal(e.destination, home[model], 'the only replica that serves it, and no fallback that does not');
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const viaGateway = await post(`${gw.url}/v1/completions`, { model: 'b-sql', prompt: 'x' });
    const viaEnvoy = await throughEnvoy(client, { path: '/v1/completions', body: JSON.stringify({ model: 'b-sql', prompt: 'x' }) }, (id) => urls.get(id)!);
    for (const [status, body] of [[viaGateway.status, viaGateway.json], [viaEnvoy.status, JSON.parse(viaEnvoy.body.toString())]]) {
      assert.equal(status, 404);
      assert.deepEqual(body.error, { message: 'The model `b-sql` does not exist.', type: 'not_found_error', param: 'model', code: 'model_not_found' });
    }
  } finally {
    client.close();
    await gw.close();
    await epp.close();
    await a.close();
    await b.close();
  }
});

test('lora-affinity: with --max-loras 1, an adapter goes to the replica where it is already running', async () => {
  const loraModules = [{ name: 'x', path: '/adapters/x' }, { name: 'y', path: '/adapters/y' }];
  const sims = await Promise.all([0, 1].map(() => startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20, maxLoras: 1, loraModules })));
  const config = loadConfig({
    text: `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: lora-affinity-scorer
- type: queue-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: lora-affinity-scorer
    weight: 3
  - pluginRef: queue-scorer
    weight: 1
`,
  });
  const gw = await startGateway({ port: 0, config, endpoints: sims.map((s) => parseEndpoint(s.url)), healthIntervalMs: 100, metricsIntervalMs: 20 });
  const ac = new AbortController();
  try {
    // Adapter x is running on replica 0, adapter y on replica 1 (long streams sent to each directly).
    const hold = (i: number, model: string) => fetch(`${sims[i].url}/v1/completions`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: 'hold', max_tokens: 100_000, stream: true }) });
    const held = await Promise.all([hold(0, 'x'), hold(1, 'y')]);
    const ids = sims.map((s) => `127.0.0.1:${s.port}`);
    await waitFor(() => {
      const [m0, m1] = ids.map((id) => gw.router.datastore.get(id)?.metrics);
      return Boolean(m0?.activeLoras.includes('x') && m1?.activeLoras.includes('y') && m0.maxLoras === 1);
    });
    for (let i = 0; i < 20; i++) {
      for (const [model, want] of [['x', ids[0]], ['y', ids[1]]] as const) {
        const r = await post(`${gw.url}/v1/completions`, { model, prompt: `${model} ${i}`, max_tokens: 1 });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), want, `adapter ${model} stays where it runs`);
      }
    }
    ac.abort();
    await Promise.allSettled(held.map((h) => h.text()));
  } finally {
    ac.abort();
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});
