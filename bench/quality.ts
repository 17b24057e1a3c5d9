// npm run bench:quality [-- workload …] — the routing quality suite in virtual time: per workload,
// TTFT p90 and prefix hit rate of each policy, and whether the default (kvgate) is the best.
// Goal: kvgate's TTFT p90 ≤ the best other policy's and its hit rate within 3 points of the best.
import { existsSync } from 'node:fs';
import { simulate } from '../src/simulate/simulate.js';
import { DEFAULT_FLAGS, simulateOptionsOf, type SimulateFlags } from '../src/simulate/options.js';
import type { PolicyReport } from '../src/simulate/report.js';
import { printTable } from './lib.js';

const TRACE = '/work/shared/data/traces/mooncake-conversation.jsonl';
/** `--also a.yaml,b` adds policies (presets or config files) to compare against the suite's. */
const args = process.argv.slice(2);
const alsoAt = args.indexOf('--also');
const also = alsoAt >= 0 ? args.splice(alsoAt, 2)[1].split(',') : [];
const POLICIES = ['round-robin', 'gie-default', 'sglang-cache-aware', 'kvgate', ...also];

/** The suite: 3 replicas of the default profile (what `kvgate up` runs), one workload each. */
const WORKLOADS: { name: string; what: string; flags: Partial<SimulateFlags> }[] = [
  {
    name: 'ample-cache',
    what: 'shared prefix, ample KV: 16 groups × 6 prompts, 3,000-token prefixes, 100-token questions, 100 out, Poisson 20 req/s for 40 s',
    flags: { numGroups: 16, promptsPerGroup: 6, systemPromptLen: 3000, questionLen: 100, outputLen: 100, rate: 20, duration: 40_000 },
  },
  {
    name: 'cache-pressure',
    what: '800-block (12,800-token) KV cache per replica: 16 groups × 6 prompts of 3,000-token prefixes do not fit; 100-token questions, 30 out, Poisson 12 req/s for 40 s',
    flags: { numGroups: 16, promptsPerGroup: 6, systemPromptLen: 3000, questionLen: 100, outputLen: 30, rate: 12, duration: 40_000, kvCacheSize: 800 },
  },
  {
    name: 'multi-turn',
    what: 'chat: 24 conversations × 6 turns, 1,000-token system prompt, 100-token turns, 100 out, 8 conversations at a time',
    flags: { workload: 'multi-turn', numConversations: 24, turns: 6, systemPromptLen: 1000, questionLen: 100, outputLen: 100, concurrency: 8 },
  },
  {
    name: 'decode-heavy',
    what: 'unrelated 256-token prompts, 1,024 tokens out, Poisson 8 req/s for 40 s',
    flags: { workload: 'decode-heavy', numRequests: 400, inputLen: 256, outputLen: 1024, rate: 8, duration: 40_000 },
  },
  {
    name: 'mooncake',
    what: 'the Mooncake conversation trace (12,031 requests, 1 h) at its own pace',
    flags: { trace: TRACE, traceWindow: 300_000 },
  },
];

const only = args;
const chosen = WORKLOADS.filter((w) => only.length === 0 || only.includes(w.name));
if (chosen.length === 0) {
  console.error(`bench:quality: no workload named ${only.join(', ')} (have: ${WORKLOADS.map((w) => w.name).join(', ')})`);
  process.exit(1);
}

const t0 = performance.now();
const results: Record<string, Record<string, { ttft_p90_ms: number; hit_pct: number | null; oracle_hit_pct: number | null }>> = {};
const verdicts: Record<string, { ttft_ok: boolean; hit_ok: boolean }> = {};
for (const w of chosen) {
  if (w.flags.trace && !existsSync(w.flags.trace)) {
    console.log(`${w.name}: skipped (${w.flags.trace} not found)`);
    continue;
  }
  const opts = simulateOptionsOf({ ...DEFAULT_FLAGS, compare: POLICIES, ...w.flags } as SimulateFlags);
  const ws = performance.now();
  const report = simulate(opts);
  const by = new Map<string, PolicyReport>(report.policies.map((p) => [p.policy, p]));
  results[w.name] = Object.fromEntries(report.policies.map((p) => [p.policy, { ttft_p90_ms: p.summary.ttft_ms.p90, hit_pct: p.summary.hit_pct, oracle_hit_pct: p.summary.oracle_hit_pct }]));
  const others = report.policies.filter((p) => p.policy !== 'kvgate' && !also.includes(p.policy) && !also.some((a) => a.endsWith(`/${p.policy}.yaml`)));
  const kv = by.get('kvgate')!.summary;
  const bestTtft = Math.min(...others.map((p) => p.summary.ttft_ms.p90));
  const bestHit = Math.max(...report.policies.map((p) => p.summary.hit_pct ?? 0));
  verdicts[w.name] = { ttft_ok: kv.ttft_ms.p90 <= bestTtft, hit_ok: (kv.hit_pct ?? 0) >= bestHit - 3 };
  console.log(`\n${w.name}: ${w.what} (${((performance.now() - ws) / 1000).toFixed(1)} s wall)`);
  printTable([
    ['policy', 'TTFT p90 ms', 'TTFT p50 ms', 'hit %', 'oracle %', 'req/s', 'preemptions'],
    ...report.policies.map((p) => [p.policy, p.summary.ttft_ms.p90.toFixed(1), p.summary.ttft_ms.p50.toFixed(1), (p.summary.hit_pct ?? NaN).toFixed(1), (p.summary.oracle_hit_pct ?? NaN).toFixed(1), p.summary.throughput_rps.toFixed(2), p.summary.preemptions]),
  ]);
  const v = verdicts[w.name];
  console.log(`kvgate: TTFT p90 ${v.ttft_ok ? '≤' : '>'} best other (${bestTtft.toFixed(1)} ms); hit rate ${v.hit_ok ? 'within' : 'more than'} 3 points of the best (${bestHit.toFixed(1)} %)`);
}
const wall = (performance.now() - t0) / 1000;
const meets = Object.values(verdicts).every((v) => v.ttft_ok && v.hit_ok);
console.log(`\nkvgate is ${meets ? '' : 'NOT '}the best policy on every workload run (${wall.toFixed(0)} s wall)`);
console.log(JSON.stringify({ bench: 'quality', policies: POLICIES, workloads: results, kvgate_goal_met: meets, wall_s: +wall.toFixed(1) }));
