// The routing faults found on fleets that are not three identical replicas, each through both
// ingresses where it applies (issue: "one request lifecycle for every ingress").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';
import { post, waitFor } from '../gateway/helpers.js';
import { bothIngresses as both } from '../helpers/both-ingresses.js';
import { scriptedReplica } from '../helpers/scripted-replica.js';
import { loadConfig, presetText } from '../../src/router/index.js';

/** The kvgate preset with its picker naming two endpoints (the choice and one fallback), so a fallback the EPP names can be checked. */
function kvgateNamingTwo() {
  const preset = presetText('kvgate');
  const text = preset.replace('- type: max-score-picker\n', '- type: max-score-picker\n  parameters: {maxNumOfEndpoints: 2}\n');
  assert.notEqual(text, preset, 'the kvgate preset has a max-score-picker to configure');
  return loadConfig({ text });
}

test('replicas serving different models: every request reaches a replica that serves its model, and the EPP names only such replicas as fallbacks (gateway and EPP)', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'org/a' });
  const a2 = await startSimServer({ port: 0, profile: 'instant', model: 'org/a' });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'org/b' });
  const env = await both([a, a2, b], { eppConfig: kvgateNamingTwo() });
  const ids = { a: [a, a2].map((s) => `127.0.0.1:${s.port}`), b: [`127.0.0.1:${b.port}`] };
  try {
    const models = (await (await fetch(`${env.gw.url}/v1/models`)).json()) as { data: { id: string; root?: string }[] };
    assert.deepEqual(models.data.map((m) => m.id), ['org/a', 'org/b'], '/v1/models is the union');
    assert.ok(models.data.every((m) => typeof m.root === 'string'), "vLLM's fields are kept");
    for (let i = 0; i < 200; i++) {
      for (const m of ['a', 'b'] as const) {
        const r = await post(`${env.gw.url}/v1/completions`, { model: `org/${m}`, prompt: `request ${i} for ${m}`, max_tokens: 1 });
        assert.equal(r.status, 200, r.text);
        const served = r.headers.get('x-gateway-destination-endpoint-served')!;
        assert.ok(ids[m].includes(served), `org/${m} served by ${served}`);
      }
    }
    for (let i = 0; i < 50; i++) {
      for (const m of ['a', 'b'] as const) {
        const r = await env.envoy('/v1/completions', { model: `org/${m}`, prompt: `epp ${i} for ${m}`, max_tokens: 1 });
        assert.equal(r.status, 200, r.body.toString());
        // maxNumOfEndpoints: 2 names two endpoints where two serve the model; a replica of the
        // other model is never a fallback, so org/b (one replica) gets one, not a padded list.
        assert.deepEqual(r.destination!.split(',').sort(), [...ids[m]].sort(), `org/${m}: ${r.destination}: the picker's choice and the fallback both serve the model`);
      }
    }
    for (const r of [await post(`${env.gw.url}/v1/completions`, { model: 'org/c', prompt: 'x' }), await env.envoy('/v1/completions', { model: 'org/c', prompt: 'x' })]) {
      const body = 'json' in r ? r.json : JSON.parse(r.body.toString());
      assert.equal(r.status, 404);
      assert.equal(body.error.code, 'model_not_found');
      assert.equal(body.error.message, 'The model `org/c` does not exist.');
    }
  } finally {
    await env.close();
    await Promise.all([a, a2, b].map((s) => s.close()));
  }
});

test('a replica that stops serving a model answers 404 once: the gateway drops it from that replica and retries elsewhere', async () => {
  const a = await startSimServer({ port: 0, profile: 'instant', model: 'org/a' });
  const b = await startSimServer({ port: 0, profile: 'instant', model: 'org/a' });
  const env = await both([a, b]);
  try {
    // Replica a now answers every request with vLLM's model-not-found 404 (its model list is stale in the router).
    await fetch(`${a.url}/admin/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ failure_injection_rate: 100, failure_types: ['model_not_found'] }) });
    for (let i = 0; i < 20; i++) {
      const r = await post(`${env.gw.url}/v1/completions`, { model: 'org/a', prompt: `p${i}`, max_tokens: 1 }, { 'x-session-id': String(i) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), `127.0.0.1:${b.port}`);
    }
  } finally {
    await env.close();
    await a.close();
    await b.close();
  }
});

test('concurrent requests that share an x-request-id keep separate bookkeeping; the id is echoed', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20 });
  const env = await both([sim]);
  try {
    const ac = new AbortController();
    const send = () => fetch(`${env.gw.url}/v1/completions`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json', 'x-request-id': 'same-id' }, body: JSON.stringify({ model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'slow', max_tokens: 200, stream: true }) });
    const [r1, r2] = await Promise.all([send(), send()]);
    assert.equal(r1.headers.get('x-request-id'), 'same-id');
    assert.equal(r2.headers.get('x-request-id'), 'same-id');
    assert.equal(env.gw.router.datastore.list()[0].inFlightRequests, 2, 'two requests in flight, not one');
    ac.abort();
    await Promise.allSettled([r1.text(), r2.text()]);
    await waitFor(() => env.gw.router.datastore.list()[0].inFlightRequests === 0);
  } finally {
    await env.close();
    await sim.close();
  }
});

test('a turn sent as content parts and the next as a plain string share their cache affinity (gateway and EPP)', async () => {
  const sims = await Promise.all([0, 1, 2].map((i) => startSimServer({ port: 0, profile: 'instant', seed: i })));
  const env = await both(sims);
  try {
    // Six conversations: chance alone would keep all six together one time in 729.
    for (let c = 0; c < 6; c++) {
      const system = `Conversation ${c}. You are a meticulous assistant. `.repeat(40);
      const asParts = [{ role: 'system', content: [{ type: 'text', text: system }] }, { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'question' }] }];
      const asString = [{ role: 'system', content: system }, { role: 'user', content: 'first\nquestion' }];
      const first = await post(`${env.gw.url}/v1/chat/completions`, { model: 'Qwen/Qwen2.5-3B-Instruct', messages: asParts, max_tokens: 1 });
      assert.equal(first.status, 200);
      const second = await post(`${env.gw.url}/v1/chat/completions`, { model: 'Qwen/Qwen2.5-3B-Instruct', messages: asString, max_tokens: 1 });
      assert.equal(second.headers.get('x-gateway-destination-endpoint-served'), first.headers.get('x-gateway-destination-endpoint-served'));
      assert.ok(second.json.usage.prompt_tokens_details.cached_tokens > 0, 'the engine renders both the same, and the second hit its cache');
      const e1 = await env.envoy('/v1/chat/completions', { model: 'Qwen/Qwen2.5-3B-Instruct', messages: [{ role: 'system', content: [{ type: 'text', text: `${system} epp` }] }, { role: 'user', content: 'q' }], max_tokens: 1 });
      const e2 = await env.envoy('/v1/chat/completions', { model: 'Qwen/Qwen2.5-3B-Instruct', messages: [{ role: 'system', content: `${system} epp` }, { role: 'user', content: 'q' }], max_tokens: 1 });
      assert.equal(e2.destination!.split(',')[0], e1.destination!.split(',')[0]);
    }
  } finally {
    await env.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});

/** An upstream whose stream is fixed bytes, with vLLM's final usage event only when the body asks for it. */
async function fixedStreamUpstream() {
  const chunks = ['data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n', 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\ndata: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'];
  const usage = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"total_tokens":13,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}\n\n';
  const seen: string[] = [];
  const replica = await scriptedReplica(async (body, res) => {
    seen.push(body);
    const wantsUsage = (JSON.parse(body) as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage === true;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // Split the usage event across writes, as a network may.
    const tail = (wantsUsage ? usage : '') + 'data: [DONE]\n\n';
    for (const c of [...chunks, tail.slice(0, 37), tail.slice(37)]) {
      res.write(c);
      await new Promise((r) => setImmediate(r));
    }
    res.end();
  });
  return { ...replica, seen, plain: chunks.join('') + 'data: [DONE]\n\n' };
}

test('a stream without include_usage is counted with its tokens; the client gets the stream byte for byte as without the flag (gateway and EPP)', async () => {
  const up = await fixedStreamUpstream();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) });
  const env = await both([{ url: up.url } as RunningSim], { logger: pino(sink) });
  try {
    const req = { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true };
    const r = await fetch(`${env.gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) });
    assert.equal(await r.text(), up.plain);
    assert.match(up.seen.at(-1)!, /"stream_options":\{"include_usage":true\}/, 'kvgate asked the engine for usage');
    await waitFor(() => lines.some((l) => l.msg === 'request'));
    const log = lines.find((l) => l.msg === 'request')!;
    assert.deepEqual([log.promptTokens, log.completionTokens, log.cachedTokens], [11, 2, 4]);
    const metrics = await (await fetch(`${env.gw.url}/metrics`)).text();
    assert.match(metrics, /inference_objective_input_tokens_sum\{model_name="m",target_model_name="m"\} 11/);
    const viaEpp = await env.envoy('/v1/chat/completions', req);
    assert.equal(viaEpp.body.toString(), up.plain);
    assert.match(viaEpp.upstreamBody!.toString(), /"include_usage":true/);
    const eppMetrics = await (await fetch(`http://127.0.0.1:${env.epp.metricsPort}/metrics`)).text();
    assert.match(eppMetrics, /inference_objective_output_tokens_sum\{model_name="m",target_model_name="m"\} 2/);
    // A client that asked for usage gets it, untouched.
    const asked = await fetch(`${env.gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...req, stream_options: { include_usage: true } }) });
    assert.match(await asked.text(), /"usage":\{"prompt_tokens":11/);
  } finally {
    await env.close();
    await up.close();
  }
});

test('Envoy resending the final request-body chunk does not fail the stream', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const env = await both([sim]);
  try {
    const body = JSON.stringify({ model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'y'.repeat(300_000), max_tokens: 1 });
    const epp = await throughEnvoy(new EnvoyLikeClient(env.epp.grpcPort), { path: '/v1/completions', body, chunkBytes: 64 * 1024, repeatLastChunk: true }, () => sim.url);
    assert.equal(epp.status, 200, epp.body.toString().slice(0, 200));
    assert.equal(epp.upstreamBody!.length, body.length, 'the duplicate chunk was ignored, not appended');
  } finally {
    await env.close();
    await sim.close();
  }
});
