// The precise path of `npm run bench:scheduler`: whole scheduling decisions (router.pick) with
// the precise-prefix-cache producer over an exact index fed as engines would feed it — 100
// endpoints with live event streams — token ids given, so tokenization is excluded (measured on
// its own by scheduler-tokenize.ts).
import { build } from 'hdr-histogram-js';
import { createRouter, loadConfig, EXACT_INDEX_MODEL, type KvEventsView, type KvStreamStatus } from '../src/router/index.js';
import { ExactPrefixIndex } from '../src/router/prefix/exact-prefix-index.js';
import { EstimateTokenizer, renderChatML } from '../src/shared/tokenizer/index.js';
import type { RouteRequest } from '../src/router/api.js';

const BS = 16;
const ENDPOINTS = 100;
const GROUPS = 40;

function rng(seed: number) {
  let a = seed;
  return () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function textOf(rand: () => number, n: number): string {
  const words = 'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega routing cache token prefix'.split(' ');
  let s = '';
  while (s.length < n) s += `${words[Math.floor(rand() * words.length)]} `;
  return s.slice(0, n);
}

export interface PrecisePickFigures {
  preset: string;
  p50: number;
  p99: number;
  max: number;
  cpuP50: number;
  cpuP99: number;
  exactShare: number;
}

/**
 * 100 endpoints, each holding 3 of 40 groups' 8,000-character system prompts and 20 other
 * prompts (as the exact-index bench); requests are 32,000-character chats (a group's system
 * prompt + a new 24,000-character user message, 500 blocks), their token ids given. Every pick
 * also records the request as in flight on its endpoint (speculative indexing) and in the
 * approximate fallback index, as in production.
 */
export function benchPrecisePick(preset: string, measure = 5000): PrecisePickFigures {
  const rand = rng(5);
  const tok = new EstimateTokenizer();
  const index = new ExactPrefixIndex({ initialBlocks: 1 << 20 });
  const states = new Map<string, KvStreamStatus>();
  const view: KvEventsView = { index, status: (id) => states.get(id) };
  const systems = Array.from({ length: GROUPS }, (_, g) => textOf(rng(100 + g), 8000));
  const ids: string[] = [];
  let hash = 1n;
  const store = (id: string, tokens: number[]) => {
    const n = Math.floor(tokens.length / BS);
    index.apply(id, EXACT_INDEX_MODEL, { type: 'BlockStored', blockHashes: Array.from({ length: n }, (_, i) => hash + BigInt(i)), parentBlockHash: null, tokenIds: tokens.slice(0, n * BS), blockSize: BS, loraName: null, medium: 'GPU' });
    hash += 100_000n;
  };
  for (let e = 0; e < ENDPOINTS; e++) {
    const id = `10.0.${e >> 8}.${e & 255}:8000`;
    ids.push(id);
    states.set(id, { state: 'live', batches: 1 });
    for (const g of [e % GROUPS, (e + 13) % GROUPS, (e + 27) % GROUPS]) store(id, tok.encode(renderChatML([{ role: 'system', content: systems[g] }])));
    for (let u = 0; u < 20; u++) store(id, tok.encode(textOf(rand, 24_000)));
  }
  const router = createRouter({ config: loadConfig({ preset }), kvEvents: view, random: rand });
  for (const id of ids) {
    router.datastore.upsertEndpoint({ id, host: id.split(':')[0], port: 8000, url: `http://${id}`, labels: {} });
  }
  const metricsAt = (now: number) => {
    for (const id of ids) {
      router.datastore.updateMetrics(id, { waitingQueueSize: Math.floor(rand() * 6), runningRequests: Math.floor(rand() * 40), kvCacheUsage: rand() * 0.7, activeLoras: [], waitingLoras: [], maxLoras: 0, numGpuBlocks: 31_250, blockSize: BS, updatedAtMs: now });
      // Engines keep publishing: every endpoint's stream advances (speculative entries are confirmed).
      states.get(id)!.batches++;
    }
  };
  const routes: RouteRequest[] = Array.from({ length: 400 }, (_, i) => {
    const text = renderChatML([
      { role: 'system', content: systems[i % GROUPS] },
      { role: 'user', content: `${i} ${textOf(rand, 24_000)}` },
    ]);
    const promptTokenIds = Uint32Array.from(tok.encode(text));
    return { id: '', model: 'm', api: 'chat', prefixText: text, promptTokens: promptTokenIds.length, promptTokenIds, stream: false, priority: 0 };
  });
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const cpuHist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  let exact = 0;
  let now = 0;
  const run = (n: number, record: boolean) => {
    for (let i = 0; i < n; i++) {
      if (i % 50 === 0) metricsAt(now);
      const r = { ...routes[i % routes.length], id: `${preset}-${record}-${i}` };
      const c = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const res = router.pick(r, now);
      const ns = Number(process.hrtime.bigint() - t0);
      const d = process.cpuUsage(c);
      if (record) {
        hist.recordValue(Math.max(1, Math.round(ns / 1000)));
        cpuHist.recordValue(Math.max(1, d.user + d.system));
        if (res.prefixMatch?.source === 'exact') exact++;
      }
      router.onFirstToken(res.requestId, now + 1);
      router.onComplete(res.requestId, now + 2);
      now += 1;
    }
  };
  run(2000, false);
  run(measure, true);
  return { preset, p50: hist.getValueAtPercentile(50), p99: hist.getValueAtPercentile(99), max: hist.maxValue, cpuP50: cpuHist.getValueAtPercentile(50), cpuP99: cpuHist.getValueAtPercentile(99), exactShare: exact / measure };
}
