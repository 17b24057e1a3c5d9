// npm run bench:precise-quality — routing quality of precise (KV-event) prefix routing against the
// approximate presets, side by side in one run: for each preset, `kvgate up --preset X
// --kv-cache-size N` (3 simulated replicas whose KV cache holds about 1.5 groups' prefixes each)
// and `kvgate bench` with 16 groups × 6 prompts sharing a 3,000-token prefix.
// Env: QUALITY_PRESETS (comma list), QUALITY_CONCURRENCY (default 6), QUALITY_RATE (Poisson rps
// instead of a closed loop), QUALITY_REPEATS (default 1), QUALITY_SEED.
import { runBench } from '../src/bench/run-bench.js';
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
  const { child, url } = await startKvgateProcess(
    ['up', '--port', '0', '--sim-base-port', '0', '--preset', preset, '--kv-cache-size', String(KV_BLOCKS), '--json'],
    /"gateway_url":"(http:\/\/[\d.]+:\d+)"/,
  );
  try {
    // Until the gateway has probed its replicas' models.
    for (let i = 0; i < 200; i++) {
      const j = (await (await fetch(`${url}/v1/models`)).json()) as { data?: unknown[] };
      if (j.data?.length) break;
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
    await stopProcess(child);
  }
}

const rows: Row[] = [];
for (let r = 0; r < REPEATS; r++) {
  for (const preset of PRESETS) {
    const row = await runOne(preset, SEED + r);
    rows.push(row);
    process.stderr.write(`${preset} (seed ${row.seed}): hit ${row.hit_pct.toFixed(1)} %, TTFT p90 ${row.ttft_p90_ms.toFixed(0)} ms\n`);
  }
}

console.log(`\n3 replicas × ${KV_BLOCKS} KV blocks (${KV_BLOCKS * BLOCK} tokens ≈ 1.5 prefixes), ${GROUPS} groups × ${PER_GROUP} prompts × ${PREFIX}-token prefix + ${QUESTION}-token question, ${OUTPUT} output tokens, ${RATE ? `Poisson ${RATE} req/s` : `closed loop, concurrency ${CONCURRENCY}`}\n`);
printTable([
  ['preset', 'seed', 'cache hit %', 'TTFT p50 ms', 'TTFT p90 ms', 'E2E p90 ms', 'req/s', 'errors', 'requests per replica'],
  ...rows.map((r) => [r.preset, r.seed, r.hit_pct.toFixed(1), r.ttft_p50_ms.toFixed(0), r.ttft_p90_ms.toFixed(0), r.e2e_p90_ms.toFixed(0), r.throughput_rps.toFixed(2), r.errors, Object.values(r.per_endpoint).join('/')]),
]);
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
    ...Object.fromEntries(PRESETS.flatMap((p) => [[`${p}_hit_pct`, +mean(p, 'hit_pct').toFixed(2)], [`${p}_ttft_p90_ms`, +mean(p, 'ttft_p90_ms').toFixed(1)]])),
  }),
);
