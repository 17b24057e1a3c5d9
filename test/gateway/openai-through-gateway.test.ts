import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { fleetWithGateway, MODEL, post } from './helpers.js';
import { parsePromText } from '../helpers/prom-text.js';

let env: Awaited<ReturnType<typeof fleetWithGateway>>;
let client: OpenAI;
before(async () => {
  env = await fleetWithGateway(3);
  client = new OpenAI({ baseURL: `${env.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => env.close());

test('chat and completions, stream and non-stream, work through the gateway with the openai client', async () => {
  const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  assert.equal(chat.usage!.completion_tokens, 4);
  const comp = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 3 });
  assert.equal(comp.choices[0].finish_reason, 'length');
  const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'stream' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) usage = c.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(usage!.completion_tokens, 5);
  const cstream = await client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 2, stream: true });
  let n = 0;
  for await (const c of cstream) n += c.choices.length;
  assert.equal(n, 2); // one chunk per token, the last with finish_reason (as vLLM)
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.deepEqual(models, [MODEL]);
});

test('responses name the serving endpoint; /metrics carries the EPP metric names', async () => {
  const r = await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: 'who served me?', max_tokens: 1 });
  assert.equal(r.status, 200);
  const served = r.headers.get('x-gateway-destination-endpoint-served')!;
  assert.ok(env.fleet.replicas.some((x) => x.url.endsWith(served)));
  const { samples } = parsePromText(await (await fetch(`${env.gateway.url}/metrics`)).text());
  const names = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
  for (const n of [
    'inference_objective_request_total',
    'inference_objective_request_duration_seconds',
    'inference_objective_input_tokens',
    'inference_objective_output_tokens',
    'inference_objective_prompt_cached_tokens',
    'inference_pool_ready_pods',
    'inference_pool_average_kv_cache_utilization',
    'inference_pool_average_queue_size',
    'inference_extension_scheduler_e2e_duration_seconds',
    'inference_extension_prefix_indexer_hit_ratio',
    'kvgate_endpoint_picks_total',
  ]) assert.ok(names.has(n), n);
  assert.equal(samples.find((s) => s.name === 'inference_pool_ready_pods')!.value, 3);
});

test('--debug-scores adds per-endpoint scores; client routing headers are ignored', async () => {
  const dbg = await fleetWithGateway(2, { debugScores: true });
  try {
    const target = dbg.fleet.replicas[0].url.replace('http://', '');
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await post(`${dbg.gateway.url}/v1/completions`, { model: MODEL, prompt: `distinct prompt number ${i} `.repeat(30), max_tokens: 1 }, { 'x-gateway-destination-endpoint': target });
      served.add(r.headers.get('x-gateway-destination-endpoint-served')!);
      const scores = JSON.parse(r.headers.get('x-kvgate-scores')!);
      assert.equal(scores.length, 2);
      assert.ok('predicted-ttft-scorer' in scores[0]);
    }
    assert.equal(served.size, 2, 'the router spread the requests, ignoring the client header');
  } finally {
    await dbg.close();
  }
});
