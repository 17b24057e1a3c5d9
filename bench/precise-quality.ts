// npm run bench:precise-quality — routing quality of precise (KV-event) prefix routing against the
// approximate presets, side by side in one run: for each preset, `kvgate up --preset X
// --kv-cache-size N` (3 simulated replicas whose KV cache holds about 1.5 groups' prefixes each)
// and `kvgate bench` with 16 groups × 6 prompts sharing a 3,000-token prefix.
// Env: QUALITY_PRESETS (comma list; `precise-no-speculation` is the precise preset with llm-d's
// speculativeIndexing off), QUALITY_CONCURRENCY (default 6), QUALITY_RATE (Poisson rps instead of
// a closed loop), QUALITY_REPEATS (default 1, one seed each), QUALITY_SEED, QUALITY_ROUTERS (2 =
// two gateways over the same replicas, requests alternating between them: active-active).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { buildWorkload } from '../src/bench/workloads.js';
import { runBench } from '../src/bench/run-bench.js';
import { presetText } from '../src/router/index.js';
import { startKvgateProcess, stopProcess, printTable } from './lib.js';

const PRESETS = (process.env.QUALITY_PRESETS ?? 'precise,kvgate,gie-default,sglang-cache-aware').split(',');
const GROUPS = 16;
const PER_GROUP = 6;
const PREFIX = 3000;
const QUESTION = 100;
const OUTPUT = 64;
const BLOCK = 16;
// 1.5 groups' prefixes per replica.
const KV_BLOCKS = Math.ceil((1.5 * PREFIX) / BLOCK);
const CONCURRENCY = Number(process.env.QUALITY_CONCURRENCY ?? 6);
const RATE = process.env.QUALITY_RATE ? Number(process.env.QUALITY_RATE) : undefined;
const REPEATS = Number(process.env.QUALITY_REPEATS ?? 1);
const SEED = Number(process.env.QUALITY_SEED ?? 1);
const ROUTERS = Number(process.env.QUALITY_ROUTERS ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'kvgate-quality-'));

/** `--preset X`, or a config file for the bench's own variants. */
function routingArgs(preset: string): string[] {
  if (preset === 'precise-no-speculation') {
    const f = join(dir, 'precise-no-speculation.yaml');
    writeFileSync(f, presetText('precise').replace('- type: precise-prefix-cache-scorer\n', '- type: precise-prefix-cache-scorer\n  parameters: {speculativeIndexing: false}\n'));
    return ['--config-file', f];
  }
  return ['--preset', preset];
}

/** Alternates requests between gateways (a plain L4-style round robin in front of active-active routers). */
async function roundRobin(urls: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const pools = urls.map((u) => new Pool(u, { connections: 64 }));
  let next = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const pool = pools[next++ % pools.length];
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pool
        .request({ path: req.url!, method: req.method as 'GET' | 'POST', headers: { 'content-type': 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined })
        .then(async (r) => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string' && k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') h[k] = v;
          res.writeHead(r.statusCode, h);
          for await (const c of r.body) res.write(c);
          res.end();
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: async () => {
      server.close();
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

interface Row {
  preset: string;
  seed: number;
  hit_pct: number;
  ttft_p50_ms: number;
  ttft_p90_ms: number;
  e2e_p90_ms: number;
  throughput_rps: number;
  errors: number;
  per_endpoint: Record<string, number>;
}

async function runOne(preset: string, seed: number): Promise<Row> {
  const up = await startKvgateProcess(
    ['up', '--port', '0', '--sim-base-port', '0', ...routingArgs(preset), '--kv-cache-size', String(KV_BLOCKS), '--json'],
    /(\{"gateway_url".*\})\n/,
  );
  const info = JSON.parse(up.url) as { gateway_url: string; replicas: string[]; kv_events: { port: number; replayPort: number }[] };
  const children = [up.child];
  let url = info.gateway_url;
  let rr: Awaited<ReturnType<typeof roundRobin>> | undefined;
  try {
    if (ROUTERS > 1) {
      // More gateways over the same replicas, each subscribed to their events.
      const f = join(dir, 'endpoints.yaml');
      writeFileSync(f, `endpoints:\n${info.replicas.map((u, i) => `- {url: ${u}, kvEventsPort: ${info.kv_events[i].port}, kvEventsReplayPort: ${info.kv_events[i].replayPort}}`).join('\n')}\n`);
      const urls = [url];
      for (let k = 1; k < ROUTERS; k++) {
        const g = await startKvgateProcess(['serve', '--port', '0', ...routingArgs(preset), '--endpoints-file', f]);
        children.push(g.child);
        urls.push(g.url);
      }
      rr = await roundRobin(urls);
      url = rr.url;
    }
    // Until the gateway has probed its replicas' models.
    for (let i = 0; i < 400; i++) {
      const ready = await Promise.all(Array.from({ length: ROUTERS }, async () => ((await (await fetch(`${url}/v1/models`)).json()) as { data?: unknown[] }).data?.length ?? 0));
      if (ready.every((n) => n > 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const report = await runBench({
      url,
      label: preset,
      workload: { workload: 'shared-prefix', seed, numGroups: GROUPS, promptsPerGroup: PER_GROUP, systemPromptLen: PREFIX, questionLen: QUESTION, outputLen: OUTPUT },
      concurrency: CONCURRENCY,
      stages: RATE ? [{ rate: RATE, durationS: (GROUPS * PER_GROUP) / RATE }] : [{}],
      timeoutMs: 300_000,
    });
    const s = report.summary;
    return {
      preset,
      seed,
      hit_pct: s.cache_hit_pct ?? NaN,
      ttft_p50_ms: s.ttft_ms.p50,
      ttft_p90_ms: s.ttft_ms.p90,
      e2e_p90_ms: s.e2e_ms.p90,
      throughput_rps: s.throughput_rps,
      errors: s.errors,
      per_endpoint: s.per_endpoint,
    };
  } finally {
    await rr?.close();
    for (const c of children) await stopProcess(c);
  }
}

/**
 * Reference points, offline on the same request order, one request at a time (no concurrency),
 * over caches that evict as vLLM does (LRU, a chain freed from its tail):
 * - greedy: 3 replicas of KV_BLOCKS, routing with perfect knowledge of every cache (longest cached
 *   prefix, else the replica whose cache was used least recently) — what better cache knowledge
 *   alone can buy here;
 * - pooled: the fleet's 3 × KV_BLOCKS as one LRU cache — placement that never holds a prefix
 *   twice. Neither is a bound for every online policy, but both are what LRU engines keep when
 *   the router knows everything but the future; on seeds 1–3 they reach 20–25 %, short of the
 *   +10 points over the approximate presets' ~16 % that the issue asked for.
 */
function offlineHitPct(seed: number, replicas: number, blocksEach: number): number {
  const reqs = buildWorkload({ workload: 'shared-prefix', seed, numGroups: GROUPS, promptsPerGroup: PER_GROUP, systemPromptLen: PREFIX, questionLen: QUESTION, outputLen: OUTPUT });
  const caches: string[][] = Array.from({ length: replicas }, () => []);
  const used = caches.map(() => 0);
  let hit = 0;
  let total = 0;
  reqs.forEach((r, k) => {
    const tokens = PREFIX + QUESTION;
    const n = Math.floor(tokens / BLOCK);
    const shared = Math.floor(PREFIX / BLOCK);
    const keys = Array.from({ length: n }, (_, i) => (i < shared ? `g${r.group}:${i}` : `r${k}:${i}`));
    const matchOf = (c: string[]) => {
      const set = new Set(c);
      let m = 0;
      while (m < Math.floor((tokens - 1) / BLOCK) && set.has(keys[m])) m++;
      return m;
    };
    const matches = caches.map(matchOf);
    let pick = matches.indexOf(Math.max(...matches));
    if (matches[pick] === 0) pick = used.indexOf(Math.min(...used));
    used[pick] = k + 1;
    hit += matches[pick] * BLOCK;
    total += tokens;
    const set = new Set(keys);
    const rest = caches[pick].filter((x) => !set.has(x));
    while (rest.length + keys.length > blocksEach) rest.shift();
    caches[pick] = [...rest, ...[...keys].reverse()]; // freed in reverse: the chain's tail is evicted first
  });
  return (100 * hit) / total;
}

const rows: Row[] = [];
for (let r = 0; r < REPEATS; r++) {
  for (const preset of PRESETS) {
    const row = await runOne(preset, SEED + r);
    rows.push(row);
    process.stderr.write(`${preset} (seed ${row.seed}): hit ${row.hit_pct.toFixed(1)} %, TTFT p90 ${row.ttft_p90_ms.toFixed(0)} ms\n`);
  }
}

console.log(`\n${ROUTERS > 1 ? `${ROUTERS} gateways (requests alternating), ` : ''}3 replicas × ${KV_BLOCKS} KV blocks (${KV_BLOCKS * BLOCK} tokens ≈ 1.5 prefixes), ${GROUPS} groups × ${PER_GROUP} prompts × ${PREFIX}-token prefix + ${QUESTION}-token question, ${OUTPUT} output tokens, ${RATE ? `Poisson ${RATE} req/s` : `closed loop, concurrency ${CONCURRENCY}`}\n`);
printTable([
  ['preset', 'seed', 'cache hit %', 'TTFT p50 ms', 'TTFT p90 ms', 'E2E p90 ms', 'req/s', 'errors', 'requests per replica'],
  ...rows.map((r) => [r.preset, r.seed, r.hit_pct.toFixed(1), r.ttft_p50_ms.toFixed(0), r.ttft_p90_ms.toFixed(0), r.e2e_p90_ms.toFixed(0), r.throughput_rps.toFixed(2), r.errors, Object.values(r.per_endpoint).join('/')]),
]);
const bounds = Array.from({ length: REPEATS }, (_, r) => offlineHitPct(SEED + r, 3, KV_BLOCKS));
const pooled = Array.from({ length: REPEATS }, (_, r) => offlineHitPct(SEED + r, 1, 3 * KV_BLOCKS));
console.log(`reference: perfect cache knowledge, one request at a time, greedy — ${bounds.map((b) => `${b.toFixed(1)} %`).join(', ')} (offline, same request order)`);
console.log(`reference: the fleet's KV as one LRU cache (no prefix held twice) — ${pooled.map((b) => `${b.toFixed(1)} %`).join(', ')}`);
const mean = (preset: string, k: 'hit_pct' | 'ttft_p90_ms') => {
  const xs = rows.filter((r) => r.preset === preset).map((r) => r[k]);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
console.log(
  JSON.stringify({
    kv_cache_blocks: KV_BLOCKS,
    concurrency: RATE ? null : CONCURRENCY,
    rate_rps: RATE ?? null,
    repeats: REPEATS,
    routers: ROUTERS,
    greedy_bound_hit_pct: +(bounds.reduce((a, b) => a + b, 0) / bounds.length).toFixed(2),
    pooled_lru_hit_pct: +(pooled.reduce((a, b) => a + b, 0) / pooled.length).toFixed(2),
    ...Object.fromEntries(PRESETS.flatMap((p) => [[`${p}_hit_pct`, +mean(p, 'hit_pct').toFixed(2)], [`${p}_ttft_p90_ms`, +mean(p, 'ttft_p90_ms').toFixed(1)]])),
  }),
);
