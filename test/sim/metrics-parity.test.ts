// The simulator's /metrics against vLLM's list (test/fixtures/vllm-v1-metrics.json, written from
// vllm/v1/metrics/loggers.py): every name, type, label set and bucket list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MODEL, sim, post, metrics } from './helpers.js';
import { tokenBuckets } from '../../src/sim/metrics.js';

interface FixtureMetric {
  name: string;
  type: 'gauge' | 'counter' | 'histogram';
  labels?: string[];
  labelsInclude?: string[];
  labelValues?: Record<string, string[]>;
  buckets?: number[] | '1-2-5';
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/vllm-v1-metrics.json', import.meta.url), 'utf8')) as { metrics: FixtureMetric[] };

test('every vLLM v1 metric is exported with vLLM\'s type, labels and buckets', async () => {
  const maxModelLen = 4096;
  const s = await sim({ maxModelLen, loraModules: [{ name: 'sql', path: '/sql' }] });
  try {
    // Traffic first, so per-request histograms have samples and the label sets show.
    await post(s, '/v1/completions', { model: MODEL, prompt: 'metrics parity '.repeat(10), max_tokens: 3, n: 2 });
    await post(s, '/v1/completions', { model: 'sql', prompt: 'select 1', max_tokens: 2 });
    const { samples, types } = await metrics(s);
    const missing: string[] = [];
    for (const m of fixture.metrics) {
      const sampleName = m.type === 'histogram' ? `${m.name}_count` : m.name;
      const family = samples.filter((x) => x.name === sampleName);
      if (family.length === 0) {
        missing.push(m.name);
        continue;
      }
      assert.equal(types.get(m.name), m.type, `${m.name} type`);
      for (const x of family) {
        const keys = Object.keys(x.labels).sort();
        if (m.labels) assert.deepEqual(keys, [...m.labels].sort(), `${m.name} labels`);
        if (m.labelsInclude) for (const k of m.labelsInclude) assert.ok(keys.includes(k), `${m.name} has label ${k}`);
      }
      for (const [label, values] of Object.entries(m.labelValues ?? {})) {
        const seen = new Set(family.map((x) => x.labels[label]));
        for (const v of values) assert.ok(seen.has(v), `${m.name}{${label}="${v}"} is exported before any such event`);
      }
      if (m.buckets) {
        const want = m.buckets === '1-2-5' ? tokenBuckets(maxModelLen) : m.buckets;
        const got = samples.filter((x) => x.name === `${m.name}_bucket` && x.labels.le !== '+Inf' && x.labels.engine === '0').map((x) => Number(x.labels.le));
        assert.deepEqual([...new Set(got)], want, `${m.name} buckets`);
      }
    }
    assert.deepEqual(missing, [], 'metrics vLLM exports that the simulator lacks');
    assert.deepEqual(tokenBuckets(100), [1, 2, 5, 10, 20, 50, 100], 'vLLM\'s build_1_2_5_buckets(100) docstring example');
  } finally {
    await s.close();
  }
});

test('the new vLLM counters and histograms count what vLLM counts', async () => {
  const s = await sim({ maxModelLen: 4096 });
  try {
    const prompt = 'shared prefix for the cache '.repeat(8);
    await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 2 });
    const warm = await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 2, n: 3 });
    const { samples } = await metrics(s);
    const v = (name: string, labels: Record<string, string> = {}) => samples.find((x) => x.name === name && Object.entries(labels).every(([k, val]) => x.labels[k] === val))?.value;
    const cached = warm.json.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached > 0);
    assert.ok(v('vllm:prompt_tokens_cached_total')! >= cached, 'cached prompt tokens are counted');
    assert.equal(v('vllm:request_params_n_count'), 2, 'one observation per prompt (parent request)');
    assert.equal(v('vllm:request_params_n_sum'), 1 + 3);
    assert.equal(v('vllm:request_max_num_generation_tokens_sum'), 2 + 2);
    assert.equal(v('vllm:iteration_tokens_total_sum'), v('vllm:prompt_tokens_total')! + v('vllm:generation_tokens_total')!, 'iteration tokens = prompt + generated tokens');
    const computed = v('vllm:request_prefill_kv_computed_tokens_sum')!;
    assert.equal(computed, v('vllm:request_prompt_tokens_sum')! - v('vllm:prompt_tokens_cached_total')!, 'prefill KV computed = prompt − cached, per request');
    assert.equal(v('vllm:time_per_output_token_seconds_count'), v('vllm:inter_token_latency_seconds_count'), 'the deprecated name observes the inter-token latencies');
    const sources = ['local_compute', 'local_cache_hit', 'external_kv_transfer'].map((source) => v('vllm:prompt_tokens_by_source_total', { source })!);
    assert.equal(sources[0] + sources[1] + sources[2] - v('vllm:prompt_tokens_recomputed_total')!, v('vllm:prompt_tokens_total'), 'vLLM\'s PromptTokenStats invariant');
  } finally {
    await s.close();
  }
});
