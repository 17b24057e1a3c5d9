// The metrics parser as it was before the allocation-free scan (commit b594155), kept verbatim
// as the oracle the property test compares the current parser against.
import type { EndpointInfo, EndpointMetrics } from '../../src/router/api.js';

/** Metric names per engine (GIE model-server protocol). */
const DIALECTS = {
  vllm: {
    waiting: ['vllm:num_requests_waiting'],
    running: ['vllm:num_requests_running'],
    kv: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  },
  sglang: { waiting: ['sglang:num_queue_reqs'], running: ['sglang:num_running_reqs'], kv: ['sglang:token_usage'] },
  trtllm: { waiting: ['trtllm_num_requests_waiting'], running: ['trtllm_num_requests_running'], kv: ['trtllm_kv_cache_utilization'] },
} as const;

function labelValue(labels: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|,)\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels);
  return m?.[1];
}

/**
 * Extracts the few signals the scheduler needs from a Prometheus text exposition. Scans lines
 * once and keeps only known names, so a 50 ms scrape of a full vLLM /metrics stays cheap.
 * Values of several series of one gauge (e.g. per engine) are summed; KV usage is averaged.
 */
export function referenceParseEndpointMetrics(text: string, dialect: NonNullable<EndpointInfo['metricsDialect']>, nowMs: number): EndpointMetrics {
  const names = DIALECTS[dialect];
  let waiting = 0;
  let running = 0;
  let kvSum = 0;
  let kvN = 0;
  let kvLegacySum = 0;
  let kvLegacyN = 0;
  let loraTs = -Infinity;
  const m: EndpointMetrics = { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: nowMs };
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const c = text.charCodeAt(start);
    if (c !== 35 /* # */ && end > start) {
      const line = text.slice(start, end);
      const brace = line.indexOf('{');
      const sp = line.lastIndexOf(' ');
      const name = brace >= 0 ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
      const value = Number(line.slice(sp + 1));
      if ((names.waiting as readonly string[]).includes(name)) waiting += value;
      else if ((names.running as readonly string[]).includes(name)) running += value;
      else if (name === names.kv[0]) {
        kvSum += value;
        kvN++;
      } else if (names.kv.length > 1 && name === (names.kv as readonly string[])[1]) {
        kvLegacySum += value;
        kvLegacyN++;
      } else if (name === 'vllm:cache_config_info' || name === 'sglang:cache_config_info') {
        const labels = line.slice(brace + 1, line.lastIndexOf('}'));
        const bs = Number(labelValue(labels, 'block_size') ?? labelValue(labels, 'page_size'));
        const nb = Number(labelValue(labels, 'num_gpu_blocks') ?? labelValue(labels, 'num_pages'));
        if (bs > 0) m.blockSize = bs;
        if (nb > 0) m.numGpuBlocks = nb;
        const seqs = Number(labelValue(labels, 'max_num_seqs'));
        if (seqs > 0) m.maxNumSeqs = seqs;
      } else if (name === 'vllm:scheduler_config_info') {
        // vLLM exports its CacheConfig only; SchedulerConfig's max_num_seqs comes from servers that
        // export it the same way (kvgate sim, others): it sizes the gateway's per-endpoint cap.
        const labels = line.slice(brace + 1, line.lastIndexOf('}'));
        const seqs = Number(labelValue(labels, 'max_num_seqs'));
        if (seqs > 0) m.maxNumSeqs = seqs;
        const budget = Number(labelValue(labels, 'max_num_batched_tokens'));
        if (budget > 0) m.maxNumBatchedTokens = budget;
      } else if (name === 'vllm:lora_requests_info' && value >= loraTs) {
        loraTs = value;
        const labels = line.slice(brace + 1, line.lastIndexOf('}'));
        const split = (s: string | undefined) => (s ? s.split(',').filter(Boolean) : []);
        m.activeLoras = split(labelValue(labels, 'running_lora_adapters'));
        m.waitingLoras = split(labelValue(labels, 'waiting_lora_adapters'));
        m.maxLoras = Number(labelValue(labels, 'max_lora') ?? 0) || 0;
      } else if (name === 'trtllm_kv_cache_tokens_per_block') m.blockSize = value;
      else if (name === 'trtllm_kv_cache_max_blocks') m.numGpuBlocks = value;
    }
    start = end + 1;
  }
  m.waitingQueueSize = waiting;
  m.runningRequests = running;
  m.kvCacheUsage = kvN ? kvSum / kvN : kvLegacyN ? kvLegacySum / kvLegacyN : 0;
  return m;
}
