import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSimServer } from '../../src/sim/server.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { TTFT_BUCKETS, ITL_BUCKETS, REQUEST_LATENCY_BUCKETS } from '../../src/sim/metrics.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const L = { model_name: MODEL, engine: '0' };

function bucketsOf(samples: ReturnType<typeof parsePromText>['samples'], name: string): number[] {
  return samples
    .filter((s) => s.name === `${name}_bucket` && s.labels.le !== '+Inf')
    .map((s) => Number(s.labels.le));
}

test('/metrics exports vLLM v1 names, labels and histogram buckets', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', maxModelLen: 4096, kvCacheSize: 1000 });
  try {
    const c = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await c.completions.create({ model: MODEL, prompt: 'hello world '.repeat(20), max_tokens: 4 });
    const res = await fetch(`${sim.url}/metrics`);
    assert.equal(res.status, 200);
    const { samples, types } = parsePromText(await res.text());
    for (const g of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc']) {
      assert.equal(types.get(g), 'gauge', g);
      assert.notEqual(sampleValue(samples, g, L), undefined, g);
    }
    for (const cname of [
      'vllm:prefix_cache_queries_total',
      'vllm:prefix_cache_hits_total',
      'vllm:num_preemptions_total',
      'vllm:prompt_tokens_total',
      'vllm:generation_tokens_total',
    ]) {
      assert.notEqual(sampleValue(samples, cname, L), undefined, cname);
    }
    assert.equal(sampleValue(samples, 'vllm:request_success_total', { ...L, finished_reason: 'length' }), 1);
    assert.deepEqual(bucketsOf(samples, 'vllm:time_to_first_token_seconds'), TTFT_BUCKETS);
    assert.deepEqual(bucketsOf(samples, 'vllm:inter_token_latency_seconds'), ITL_BUCKETS);
    assert.deepEqual(bucketsOf(samples, 'vllm:request_time_per_output_token_seconds'), ITL_BUCKETS);
    for (const h of ['e2e_request_latency', 'request_queue_time', 'request_inference_time', 'request_prefill_time', 'request_decode_time']) {
      assert.deepEqual(bucketsOf(samples, `vllm:${h}_seconds`), REQUEST_LATENCY_BUCKETS, h);
    }
    assert.deepEqual(bucketsOf(samples, 'vllm:request_prompt_tokens'), [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]);
    assert.equal(sampleValue(samples, 'vllm:request_generation_tokens_sum', L), 4);
    const info = samples.find((s) => s.name === 'vllm:cache_config_info')!;
    assert.equal(info.value, 1);
    assert.equal(info.labels.block_size, '16');
    assert.equal(info.labels.num_gpu_blocks, '1000');
    assert.equal(info.labels.enable_prefix_caching, 'True');
    assert.ok(samples.some((s) => s.name === 'vllm:lora_requests_info'));
    assert.equal(sampleValue(samples, 'vllm:gpu_cache_usage_perc', L), undefined, 'legacy names only with --legacy-metrics');
  } finally {
    await sim.close();
  }
});

test('--legacy-metrics adds the vllm:gpu_* names', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', legacyMetrics: true });
  try {
    const { samples } = parsePromText(await (await fetch(`${sim.url}/metrics`)).text());
    for (const n of ['vllm:gpu_cache_usage_perc', 'vllm:gpu_prefix_cache_queries_total', 'vllm:gpu_prefix_cache_hits_total']) {
      assert.notEqual(sampleValue(samples, n, L), undefined, n);
    }
  } finally {
    await sim.close();
  }
});

test('prefix-cache counters equal what clients saw in usage', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  try {
    const c = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
    let prompt = 0;
    let cached = 0;
    for (let i = 0; i < 6; i++) {
      const r = await c.completions.create({ model: MODEL, prompt: `shared prefix ${'abc '.repeat(60)} variant ${i % 2}`, max_tokens: 2 });
      prompt += r.usage!.prompt_tokens;
      cached += (r.usage as unknown as { prompt_tokens_details: { cached_tokens: number } }).prompt_tokens_details.cached_tokens;
    }
    const { samples } = parsePromText(await (await fetch(`${sim.url}/metrics`)).text());
    assert.equal(sampleValue(samples, 'vllm:prefix_cache_queries_total', L), prompt);
    assert.equal(sampleValue(samples, 'vllm:prefix_cache_hits_total', L), cached);
    assert.ok(cached > 0);
    assert.equal(sampleValue(samples, 'vllm:num_requests_running', L), 0);
  } finally {
    await sim.close();
  }
});

test('disabling prefix caching is visible in cache_config_info and no hits are counted', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', enablePrefixCaching: false });
  try {
    const c = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
    for (let i = 0; i < 2; i++) await c.completions.create({ model: MODEL, prompt: 'same '.repeat(100), max_tokens: 1 });
    const { samples } = parsePromText(await (await fetch(`${sim.url}/metrics`)).text());
    assert.equal(samples.find((s) => s.name === 'vllm:cache_config_info')!.labels.enable_prefix_caching, 'False');
    assert.equal(sampleValue(samples, 'vllm:prefix_cache_hits_total', L), 0);
  } finally {
    await sim.close();
  }
});
