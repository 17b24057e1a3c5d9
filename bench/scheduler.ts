// npm run bench:scheduler — scheduling-decision latency at 100 endpoints with 32,000-character chat
// prompts, and memory per indexed prefix block; the exact (KV-event) prefix index's match time and
// memory; router-side tokenization of a 32,000-character prompt, cold and through the prefix cache.
import { build } from 'hdr-histogram-js';
import { benchExactMatch, benchExactMemory } from './scheduler-exact.js';
import { benchTokenize, benchTokenizerLibraries } from './scheduler-tokenize.js';
import { benchPrecisePick } from './scheduler-precise.js';
import { createRouter, loadConfig, parseOpenAIRequest, ApproxPrefixIndex } from '../src/router/index.js';
import type { RouteRequest } from '../src/router/api.js';
import { printTable } from './lib.js';

const ENDPOINTS = 100;
const GROUPS = 40;
const WARM = 2000;
const MEASURE = 5000;

function rng(seed: number) {
  let a = seed;
  return () => ((a = (a * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}
const rand = rng(42);
const words = 'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega routing cache token prefix'.split(' ');
const text = (n: number) => {
  let s = '';
  while (s.length < n) s += `${words[Math.floor(rand() * words.length)]} `;
  return s.slice(0, n);
};
const systems = Array.from({ length: GROUPS }, () => text(8000));

function request(i: number): Buffer {
  const body = {
    model: 'Qwen/Qwen2.5-3B-Instruct',
    messages: [
      { role: 'system', content: systems[i % GROUPS] },
      { role: 'user', content: `${i} ${text(24_000)}` },
    ],
    max_tokens: 100,
  };
  return Buffer.from(JSON.stringify(body));
}

function bench(preset: string) {
  const router = createRouter({ config: loadConfig({ preset }) });
  for (let i = 0; i < ENDPOINTS; i++) {
    const id = `10.0.${i >> 8}.${i & 255}:8000`;
    router.datastore.upsertEndpoint({ id, host: id.split(':')[0], port: 8000, url: `http://${id}`, labels: {} });
  }
  const metricsAt = (now: number) => {
    for (const e of router.datastore.list()) {
      router.datastore.updateMetrics(e.info.id, {
        waitingQueueSize: Math.floor(rand() * 6),
        runningRequests: Math.floor(rand() * 40),
        kvCacheUsage: rand() * 0.7,
        activeLoras: [],
        waitingLoras: [],
        maxLoras: 0,
        numGpuBlocks: 31_250,
        blockSize: 16,
        updatedAtMs: now,
      });
    }
  };
  const bodies = Array.from({ length: 400 }, (_, i) => request(i));
  const routes: RouteRequest[] = bodies.map((b, i) => parseOpenAIRequest('/v1/chat/completions', b, { requestId: `w${i}` }).route);
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  let now = 0;
  const run = (n: number, record: boolean) => {
    for (let i = 0; i < n; i++) {
      if (i % 50 === 0) metricsAt(now);
      const r = { ...routes[i % routes.length], id: `${preset}-${record}-${i}` };
      const t0 = process.hrtime.bigint();
      const res = router.pick(r, now);
      const ns = Number(process.hrtime.bigint() - t0);
      if (record) hist.recordValue(Math.max(1, Math.round(ns / 1000)));
      router.onFirstToken(res.requestId, now + 1);
      router.onComplete(res.requestId, now + 2);
      now += 1;
    }
  };
  run(WARM, false);
  run(MEASURE, true);
  // Ingress parse cost for the same bodies (not part of the decision, reported for context).
  const parseT0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) parseOpenAIRequest('/v1/chat/completions', bodies[i % bodies.length], { requestId: String(i) });
  const parseUs = Number(process.hrtime.bigint() - parseT0) / 1000 / 1000;
  return { p50: hist.getValueAtPercentile(50), p99: hist.getValueAtPercentile(99), max: hist.maxValue, parseUs, entries: router.prefixIndexEntries };
}

function memoryPerBlock() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return { bytes: NaN, blocks: 0, method: 'run with --expose-gc' };
  const idx = new ApproxPrefixIndex({ defaultCapacity: 1_000_000 });
  gc();
  const before = process.memoryUsage();
  const prompts = 2000;
  for (let i = 0; i < prompts; i++) {
    // 256 blocks per prompt, 8 endpoints, a quarter of prompts shared by two endpoints
    const t = `${i} ${text(64 * 256)}`;
    const h = idx.hash('m', undefined, t);
    idx.add(`ep${i % 8}`, h);
    if (i % 4 === 0) idx.add(`ep${(i + 1) % 8}`, h);
  }
  gc();
  const after = process.memoryUsage();
  const blocks = idx.entries;
  const bytes = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  return { bytes: bytes / blocks, blocks, method: 'heap + array buffers delta after GC' };
}

// Memory first, on a quiet heap: garbage left by the latency runs would blur the delta.
const mem = memoryPerBlock();
const exactMem = await benchExactMemory();
// The exact index's match before the router runs, whose request objects would otherwise be the
// garbage its percentiles measure.
const exact = benchExactMatch();
const gie = bench('gie-default');
const kv = bench('kvgate');
const precise = benchPrecisePick('precise');
const kvExact = benchPrecisePick('kvgate');
const tokEstimate = await benchTokenize('estimate');
const tokQwen = await benchTokenize('qwen');
const libs = benchTokenizerLibraries();
console.log(`\nscheduling decision latency — ${ENDPOINTS} endpoints, 32,000-character chat prompts (${GROUPS} shared system prompts), ${MEASURE} picks`);
printTable([
  ['preset', 'p50 µs', 'p99 µs', 'max µs', 'index entries', 'ingress parse µs (context)'],
  ['gie-default', gie.p50, gie.p99, gie.max, gie.entries, gie.parseUs.toFixed(1)],
  ['kvgate', kv.p50, kv.p99, kv.max, kv.entries, kv.parseUs.toFixed(1)],
]);
console.log(`\nprecise path — the same decisions over an exact index fed by 100 live KV-event streams, token ids given (tokenization excluded), ${MEASURE} picks`);
printTable([
  ['preset', 'p50 µs', 'p99 µs', 'max µs', 'CPU p50 µs', 'CPU p99 µs', 'exact decisions'],
  ...[precise, kvExact].map((f) => [`${f.preset} (exact)`, f.p50, f.p99, f.max, f.cpuP50, f.cpuP99, `${(100 * f.exactShare).toFixed(0)} %`]),
]);
console.log(`\nprefix index memory: ${mem.bytes.toFixed(1)} bytes per indexed block over ${mem.blocks} (block, endpoint) entries (${mem.method})`);
console.log('goals: p99 ≤ 200 µs; ≤ 120 bytes per indexed block');

console.log(`\nexact prefix index (KV events) — match of a ${exact.blocksPerRequest}-block request (32,000 characters, token ids given) over ${ENDPOINTS} endpoints, ${exact.indexedBlocks} stored blocks`);
printTable([
  ['case', 'p50 µs', 'p99 µs', 'max µs', 'CPU p50 µs', 'CPU p99 µs', 'endpoints matched (mean)'],
  ['group prefix on 7–8 endpoints', exact.p50, exact.p99, exact.max, exact.cpuP50, exact.cpuP99, exact.meanHolders.toFixed(1)],
  ['125-block prefix on all 100', exact.sharedP50, exact.sharedP99, '', '', exact.sharedCpuP99, 100],
]);
console.log('(wall time, and process CPU time per call, which excludes time the process was preempted on a busy machine)');
console.log(`exact index memory: ${exactMem.heapBytesPerBlock.toFixed(1)} bytes per stored block (${exactMem.method}), ${exactMem.typedBytesPerBlock.toFixed(1)} in its typed arrays, over ${exactMem.blocks} blocks`);
console.log('goals: p99 ≤ 200 µs for 100 endpoints; ≤ 64 bytes per stored block');

console.log('\nrouter-side tokenization of a 32,000-character chat prompt (8,000-character system prompt + 24,000-character user message)');
printTable([
  ['tokenizer', 'tokens', 'cold ms', 'warm, no cache ms', 'prefix cache: same system prompt ms', 'prefix cache: whole prompt seen ms'],
  ...[tokEstimate, tokQwen].map((t) => [t.spec, t.tokens, t.coldMs.toFixed(2), t.warmMs.toFixed(2), t.sharedSystemMs.toFixed(2), t.repeatedMs.toFixed(3)]),
]);
console.log('\nQwen3 tokenizer libraries, each in a fresh process (load = import + parse tokenizer.json + construct)');
printTable([['library', 'load ms', 'cold encode ms', 'warm encode ms', 'tokens'], ...libs.map((l) => [l.library, l.loadMs.toFixed(0), l.coldEncodeMs.toFixed(1), l.warmEncodeMs.toFixed(1), l.tokens])]);
console.log(
  JSON.stringify({
    endpoints: ENDPOINTS,
    prompt_chars: 32_000,
    gie_default_p50_us: gie.p50,
    gie_default_p99_us: gie.p99,
    kvgate_p50_us: kv.p50,
    kvgate_p99_us: kv.p99,
    precise_p50_us: precise.p50,
    precise_p99_us: precise.p99,
    precise_cpu_p99_us: precise.cpuP99,
    kvgate_exact_p50_us: kvExact.p50,
    kvgate_exact_p99_us: kvExact.p99,
    kvgate_exact_cpu_p99_us: kvExact.cpuP99,
    ingress_parse_mean_us: +gie.parseUs.toFixed(1),
    bytes_per_block: +mem.bytes.toFixed(1),
    indexed_blocks: mem.blocks,
    exact_match_p50_us: exact.p50,
    exact_match_p99_us: exact.p99,
    exact_match_cpu_p50_us: exact.cpuP50,
    exact_match_cpu_p99_us: exact.cpuP99,
    exact_match_all_endpoints_cpu_p99_us: exact.sharedCpuP99,
    exact_match_all_endpoints_p50_us: exact.sharedP50,
    exact_match_all_endpoints_p99_us: exact.sharedP99,
    exact_bytes_per_block: +exactMem.heapBytesPerBlock.toFixed(1),
    exact_typed_bytes_per_block: +exactMem.typedBytesPerBlock.toFixed(1),
    tokenize_estimate_cold_ms: +tokEstimate.coldMs.toFixed(3),
    tokenize_estimate_prefix_cached_ms: +tokEstimate.sharedSystemMs.toFixed(3),
    tokenize_qwen_cold_ms: +tokQwen.coldMs.toFixed(2),
    tokenize_qwen_warm_ms: +tokQwen.warmMs.toFixed(2),
    tokenize_qwen_prefix_cached_ms: +tokQwen.sharedSystemMs.toFixed(2),
    tokenize_qwen_repeated_ms: +tokQwen.repeatedMs.toFixed(3),
    lenml_load_ms: +libs[0].loadMs.toFixed(0),
    lenml_cold_encode_ms: +libs[0].coldEncodeMs.toFixed(1),
    hf_tokenizers_load_ms: +libs[1].loadMs.toFixed(0),
    hf_tokenizers_cold_encode_ms: +libs[1].coldEncodeMs.toFixed(1),
  }),
);
