import type { EndpointInfo, EndpointMetrics } from '../router/api.js';

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
type Dialect = keyof typeof DIALECTS;

/** What a known sample name feeds. */
const enum Kind {
  Waiting,
  Running,
  Kv,
  KvLegacy,
  CacheConfig,
  SchedulerConfig,
  Lora,
  BlockSize,
  NumBlocks,
}

/** A dialect's known names, grouped by length so a line's name is compared without slicing it. */
type NameTable = ({ name: string; kind: Kind }[] | undefined)[];

function nameTable(dialect: Dialect): NameTable {
  const d = DIALECTS[dialect];
  const entries: [string, Kind][] = [
    ...d.waiting.map((n): [string, Kind] => [n, Kind.Waiting]),
    ...d.running.map((n): [string, Kind] => [n, Kind.Running]),
    [d.kv[0], Kind.Kv],
    ...d.kv.slice(1).map((n): [string, Kind] => [n, Kind.KvLegacy]),
    ['vllm:cache_config_info', Kind.CacheConfig],
    ['sglang:cache_config_info', Kind.CacheConfig],
    ['vllm:scheduler_config_info', Kind.SchedulerConfig],
    ['vllm:lora_requests_info', Kind.Lora],
    ['trtllm_kv_cache_tokens_per_block', Kind.BlockSize],
    ['trtllm_kv_cache_max_blocks', Kind.NumBlocks],
  ];
  const table: NameTable = [];
  const seen = new Set<string>();
  for (const [name, kind] of entries) {
    if (seen.has(name)) continue; // the first listed meaning wins
    seen.add(name);
    (table[name.length] ??= []).push({ name, kind });
  }
  return table;
}

const TABLES: Record<Dialect, NameTable> = { vllm: nameTable('vllm'), sglang: nameTable('sglang'), trtllm: nameTable('trtllm') };

const LABEL_PATTERNS = new Map<string, RegExp>();

function labelValue(labels: string, key: string): string | undefined {
  let re = LABEL_PATTERNS.get(key);
  if (!re) LABEL_PATTERNS.set(key, (re = new RegExp(`(?:^|,)\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`)));
  return re.exec(labels)?.[1];
}

/**
 * Extracts the few signals the scheduler needs from a Prometheus text exposition. Scraped every
 * 50 ms per endpoint, and a vLLM /metrics page is ~40 KB of mostly histogram buckets, so the scan
 * allocates nothing for a line it does not want: it finds each line's name end with native
 * `indexOf` (the next `{` is remembered across lines) and compares it, in place, only with the
 * known names of the same length; only the ~10 wanted lines are sliced and read.
 * A sample's name is the text before its line's first `{`, or before its first space when it has
 * no labels; its value is the text after the line's last space. Values of several series of one
 * gauge (e.g. per engine) are summed; KV usage is averaged.
 */
export function parseEndpointMetrics(text: string, dialect: NonNullable<EndpointInfo['metricsDialect']>, nowMs: number): EndpointMetrics {
  const table = TABLES[dialect];
  const m: EndpointMetrics = { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: nowMs };
  const acc: Sums = { waiting: 0, running: 0, kvSum: 0, kvN: 0, kvLegacySum: 0, kvLegacyN: 0, loraTs: -Infinity };
  const len = text.length;
  // Positions of the next '{' and ' ' at or after the current line, kept across lines so a page
  // of label-less lines is not searched to its end once per line (-1: none left; -2: not searched).
  let nextBrace = -2;
  let nextSpace = -2;
  let start = 0;
  while (start < len) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = len;
    if (end > start && text.charCodeAt(start) !== 35 /* # */) {
      if (nextBrace !== -1 && nextBrace < start) nextBrace = text.indexOf('{', start);
      const brace = nextBrace >= 0 && nextBrace < end ? nextBrace : -1;
      let nameEnd = brace;
      if (brace < 0) {
        if (nextSpace !== -1 && nextSpace < start) nextSpace = text.indexOf(' ', start);
        nameEnd = nextSpace >= 0 && nextSpace < end ? nextSpace : end - 1; // no space: all but the line's last character
      }
      const candidates = nameEnd > start ? table[nameEnd - start] : undefined;
      if (candidates) {
        for (const c of candidates) {
          if (!text.startsWith(c.name, start)) continue;
          readSample(text.slice(start, end), brace < 0 ? -1 : brace - start, c.kind, m, acc);
          break;
        }
      }
    }
    start = end + 1;
  }
  m.waitingQueueSize = acc.waiting;
  m.runningRequests = acc.running;
  m.kvCacheUsage = acc.kvN ? acc.kvSum / acc.kvN : acc.kvLegacyN ? acc.kvLegacySum / acc.kvLegacyN : 0;
  return m;
}

interface Sums {
  waiting: number;
  running: number;
  kvSum: number;
  kvN: number;
  kvLegacySum: number;
  kvLegacyN: number;
  /** Timestamp (the value) of the newest LoRA info series read so far. */
  loraTs: number;
}

/** Applies one wanted sample line (`brace`: index of its first '{', or -1) to `m` or the sums. */
function readSample(line: string, brace: number, kind: Kind, m: EndpointMetrics, acc: Sums): void {
  const value = Number(line.slice(line.lastIndexOf(' ') + 1));
  const labels = () => line.slice(brace + 1, line.lastIndexOf('}'));
  switch (kind) {
    case Kind.Waiting:
      acc.waiting += value;
      break;
    case Kind.Running:
      acc.running += value;
      break;
    case Kind.Kv:
      acc.kvSum += value;
      acc.kvN++;
      break;
    case Kind.KvLegacy:
      acc.kvLegacySum += value;
      acc.kvLegacyN++;
      break;
    case Kind.CacheConfig: {
      const l = labels();
      const bs = Number(labelValue(l, 'block_size') ?? labelValue(l, 'page_size'));
      const nb = Number(labelValue(l, 'num_gpu_blocks') ?? labelValue(l, 'num_pages'));
      if (bs > 0) m.blockSize = bs;
      if (nb > 0) m.numGpuBlocks = nb;
      const seqs = Number(labelValue(l, 'max_num_seqs'));
      if (seqs > 0) m.maxNumSeqs = seqs;
      break;
    }
    case Kind.SchedulerConfig: {
      // vLLM exports its CacheConfig only; SchedulerConfig's max_num_seqs comes from servers that
      // export it the same way (kvgate sim, others): it sizes the gateway's per-endpoint cap.
      const l = labels();
      const seqs = Number(labelValue(l, 'max_num_seqs'));
      if (seqs > 0) m.maxNumSeqs = seqs;
      const budget = Number(labelValue(l, 'max_num_batched_tokens'));
      if (budget > 0) m.maxNumBatchedTokens = budget;
      break;
    }
    case Kind.Lora: {
      if (!(value >= acc.loraTs)) break; // an older LoRA info series than one already read
      acc.loraTs = value;
      const l = labels();
      const split = (s: string | undefined) => (s ? s.split(',').filter(Boolean) : []);
      m.activeLoras = split(labelValue(l, 'running_lora_adapters'));
      m.waitingLoras = split(labelValue(l, 'waiting_lora_adapters'));
      m.maxLoras = Number(labelValue(l, 'max_lora') ?? 0) || 0;
      break;
    }
    case Kind.BlockSize:
      m.blockSize = value;
      break;
    case Kind.NumBlocks:
      m.numGpuBlocks = value;
      break;
  }
}
