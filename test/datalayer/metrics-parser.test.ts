import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseEndpointMetrics } from '../../src/datalayer/index.js';
import { referenceParseEndpointMetrics } from './metrics-parser-reference.js';

const DIALECTS = ['vllm', 'sglang', 'trtllm'] as const;
// A kvgate sim /metrics page (vLLM v1's families, ~41 KB, mostly histogram buckets).
const PAGE = readFileSync(new URL('../fixtures/vllm-metrics-page.txt', import.meta.url), 'utf8');

test('reads a full vLLM page: the gauges, cache_config_info, scheduler_config_info and the LoRA info', () => {
  const busy = PAGE.replace(/^(vllm:num_requests_running\{[^}]*\}) 0$/m, '$1 5')
    .replace(/^(vllm:num_requests_waiting\{[^}]*\}) 0$/m, '$1 2')
    .replace(/^(vllm:kv_cache_usage_perc\{[^}]*\}) 0$/m, '$1 0.25')
    .replace(/running_lora_adapters=""/, 'running_lora_adapters="sql"');
  const m = parseEndpointMetrics(busy, 'vllm', 9);
  assert.deepEqual(
    { q: m.waitingQueueSize, r: m.runningRequests, kv: m.kvCacheUsage, bs: m.blockSize, nb: m.numGpuBlocks, seqs: m.maxNumSeqs, budget: m.maxNumBatchedTokens, lora: m.activeLoras, max: m.maxLoras, at: m.updatedAtMs },
    { q: 2, r: 5, kv: 0.25, bs: 16, nb: 65536, seqs: 4096, budget: 262144, lora: ['sql'], max: 1, at: 9 },
  );
  for (const d of DIALECTS) assert.deepEqual(parseEndpointMetrics(busy, d, 9), referenceParseEndpointMetrics(busy, d, 9));
});

// Names the parser knows (every dialect's), near-misses, and others; label sets and values that
// exercise the rules (first '{' ends the name, last ' ' starts the value, escaped quotes).
const NAMES = [
  'vllm:num_requests_waiting', 'vllm:num_requests_running', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc',
  'vllm:cache_config_info', 'sglang:cache_config_info', 'vllm:scheduler_config_info', 'vllm:lora_requests_info',
  'sglang:num_queue_reqs', 'sglang:num_running_reqs', 'sglang:token_usage', 'trtllm_num_requests_waiting',
  'trtllm_num_requests_running', 'trtllm_kv_cache_utilization', 'trtllm_kv_cache_tokens_per_block', 'trtllm_kv_cache_max_blocks',
  'vllm:num_requests_waitin', 'vllm:num_requests_waitingX', 'vllm:kv_cache_usage_perc_x', 'vllm:e2e_request_latency_seconds_bucket', 'x', '',
];
const LABEL_KEYS = ['block_size', 'page_size', 'num_gpu_blocks', 'num_pages', 'max_num_seqs', 'max_num_batched_tokens', 'max_lora', 'running_lora_adapters', 'waiting_lora_adapters', 'engine', 'le'];
const labelValue = fc.oneof(fc.constantFrom('16', '0', '-3', '2048', 'a,b', ',sql,,chat,', '', 'x y', '{}', 'q\\"z'), fc.string({ maxLength: 6 }).map((s) => s.replace(/["\\\n]/g, '')));
const labels = fc.array(fc.tuple(fc.constantFrom(...LABEL_KEYS), labelValue), { maxLength: 4 }).map((ls) => ls.map(([k, v]) => `${k}="${v}"`).join(','));
const value = fc.oneof(fc.constantFrom('0', '1', '3', '0.42', '1.7e9', 'NaN', '+Inf', '-1', '', 'x', '1796057163.398'), fc.double({ noNaN: false }).map(String));
const sample = fc
  .tuple(fc.constantFrom(...NAMES), fc.option(labels, { nil: undefined }), fc.constantFrom(' ', '  ', '', ' 1 '), value, fc.option(fc.constantFrom(' 1700000000000', ' # {t="1"} 2'), { nil: undefined }))
  .map(([n, l, sep, v, tail]) => `${n}${l === undefined ? '' : `{${l}}`}${sep}${v}${tail ?? ''}`);
// No '{' at all: the name ends at the first space, and the labels are read from the line's start.
const braceless = fc.tuple(fc.constantFrom(...NAMES), labels, value).map(([n, l, v]) => `${n} ${l}} ${v}`);
const line = fc.oneof(
  { weight: 6, arbitrary: sample },
  { weight: 1, arbitrary: braceless },
  { weight: 1, arbitrary: fc.constantFrom('', '# HELP vllm:num_requests_waiting x', '# TYPE vllm:num_requests_waiting gauge', '#', ' vllm:num_requests_waiting 3', '{', '}', ' ', 'vllm:num_requests_waiting{', 'vllm:lora_requests_info{max_lora="2" 5') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const page = fc.tuple(fc.array(line, { maxLength: 25 }), fc.constantFrom('\n', '\r\n'), fc.boolean()).map(([ls, eol, trailing]) => ls.join(eol) + (trailing ? eol : ''));

test('on any page, every dialect reads exactly what the line-splitting parser it replaced read', () => {
  fc.assert(
    fc.property(page, fc.constantFrom(...DIALECTS), fc.integer({ min: 0, max: 1e9 }), (text, dialect, now) => {
      assert.deepStrictEqual(parseEndpointMetrics(text, dialect, now), referenceParseEndpointMetrics(text, dialect, now));
    }),
    { seed: Number(process.env.FUZZ_SEED ?? 11), numRuns: Number(process.env.FUZZ_RUNS ?? 3000) },
  );
});
