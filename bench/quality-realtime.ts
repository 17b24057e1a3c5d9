// npm run bench:quality-realtime [-- workload …] — the quality suite's ample-cache and
// cache-pressure rows in real time: per policy a fresh local fleet (`kvgate up`: 3 simulated
// replicas behind the gateway, KV events wired, `--kv-cache-size` when the workload resizes the
// cache) driven by `kvgate bench`'s load driver with the same workload, arrivals and seed as the
// virtual-time suite, and the virtual-time figures beside them.
import { runBench } from '../src/bench/run-bench.js';
import { simulate } from '../src/simulate/simulate.js';
import { DEFAULT_FLAGS, simulateOptionsOf, type SimulateFlags } from '../src/simulate/options.js';
import { startKvgateProcess, stopProcess, printTable } from './lib.js';
import { QUALITY_WORKLOADS } from './quality-workloads.js';
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';

const POLICIES = ['round-robin', 'gie-default', 'sglang-cache-aware', 'precise', 'kvgate'];
const only = process.argv.slice(2);
const chosen = QUALITY_WORKLOADS.filter((w) => (only.length ? only.includes(w.name) : ['ample-cache', 'cache-pressure'].includes(w.name)));

async function fleet(flags: Partial<SimulateFlags>, policy: string): Promise<{ url: string; children: ChildProcess[] }> {
  // Free ports; the replicas publish KV events and the gateway subscribes (as the simulator models it).
  const cache = flags.kvCacheSize === undefined ? [] : ['--kv-cache-size', String(flags.kvCacheSize)];
  const { child, url } = await startKvgateProcess(['up', '--port', '0', '--sim-base-port', '0', ...cache, '--preset', policy], /kvgate fleet ready: (http:\/\/[\d.]+:\d+)/);
  return { url, children: [child] };
}

async function modelsListed(url: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const r = (await fetch(`${url}/v1/models`).then((x) => x.json()).catch(() => ({}))) as { data?: unknown[] };
    if (r.data?.length) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url} listed no models`);
}

const out: Record<string, Record<string, { real: { ttft_p90_ms: number; hit_pct: number | null }; virtual: { ttft_p90_ms: number; hit_pct: number | null } }>> = {};
for (const w of chosen) {
  const flags = { ...DEFAULT_FLAGS, ...w.flags, compare: POLICIES } as SimulateFlags;
  const opts = simulateOptionsOf(flags);
  const virtual = await simulate(opts);
  const rows: (string | number)[][] = [['policy', 'TTFT p90 ms real', 'virtual', 'hit % real', 'virtual', 'TTFT p50 ms real', 'virtual', 'req/s real', 'load avg']];
  out[w.name] = {};
  for (const policy of POLICIES) {
    const f = await fleet(w.flags, policy);
    try {
      await modelsListed(f.url);
      const load = opts.load;
      const r = await runBench({
        url: f.url,
        label: policy,
        workload: opts.workload,
        concurrency: load.kind === 'closed' ? load.concurrency : 1,
        stages: load.kind === 'stages' ? load.stages : [{}],
        numRequests: load.kind === 'closed' ? load.numRequests : undefined,
        timeoutMs: 300_000,
      });
      const v = virtual.policies.find((p) => p.policy === policy)!.summary;
      out[w.name][policy] = { real: { ttft_p90_ms: r.summary.ttft_ms.p90, hit_pct: r.summary.cache_hit_pct }, virtual: { ttft_p90_ms: v.ttft_ms.p90, hit_pct: v.hit_pct } };
      rows.push([policy, r.summary.ttft_ms.p90.toFixed(1), v.ttft_ms.p90.toFixed(1), (r.summary.cache_hit_pct ?? NaN).toFixed(1), (v.hit_pct ?? NaN).toFixed(1), r.summary.ttft_ms.p50.toFixed(1), v.ttft_ms.p50.toFixed(1), r.summary.throughput_rps.toFixed(2), loadavg()[0].toFixed(1)]);
    } finally {
      await Promise.all(f.children.map(stopProcess));
    }
  }
  console.log(`\n${w.name}: ${w.what} (seed 1)`);
  printTable(rows);
}
console.log(JSON.stringify({ bench: 'quality-realtime', workloads: out }));
