import { startSimFleet } from './src/sim/fleet.js';
import { startGateway } from './src/gateway/server.js';
import { loadConfig } from './src/router/index.js';
import { parseEndpoint } from './src/datalayer/sources/static-endpoints.js';
import { runBench } from './src/bench/run-bench.js';
const preset = process.argv[2] ?? 'precise';
const conc = Number(process.argv[3] ?? 6);
const fleet = await startSimFleet({ replicas: 3, basePort: 0, kvEventsBasePort: 0, kvCacheSize: 282 });
const endpoints = fleet.replicas.map((r, i) => parseEndpoint(r.url, { 'kvgate.io/kv-events-port': String(fleet.kvEvents![i].port), 'kvgate.io/kv-events-replay-port': String(fleet.kvEvents![i].replayPort) }));
const gw = await startGateway({ port: 0, config: loadConfig({ preset }), endpoints, healthIntervalMs: 200, accessLog: false });
await new Promise((r) => setTimeout(r, 1500));
const orig = gw.router.pick.bind(gw.router);
let lost = 0, had = 0, n = 0, predicted = 0; const chosenR: number[] = [];
gw.router.pick = (req, now, c) => {
  const p = orig(req, now, c);
  const sc = p.scores;
  const tot = p.prefixMatch?.totalBlocks ?? 1;
  const best = Math.max(...sc.map((s) => s.prefix?.matchedBlocks ?? 0)) / tot;
  const mine = (p.prefixMatch?.matchedBlocks ?? 0) / tot; predicted += (p.prefixMatch?.source === 'exact' ? (p.prefixMatch?.matchedBlocks ?? 0) * 16 : 0);
  n++; if (best > 0.5) { had++; if (mine < 0.1) lost++; }
  return p;
};
const report = await runBench({ url: gw.url, label: preset, workload: { workload: 'shared-prefix', seed: 1, numGroups: 16, promptsPerGroup: 6, systemPromptLen: 3000, questionLen: 100, outputLen: 64 }, concurrency: conc, stages: [{}], timeoutMs: 300000 });
console.log(preset, conc, 'hit', report.summary.cache_hit_pct?.toFixed(1), 'ttft p90', report.summary.ttft_ms.p90.toFixed(0), 'picks', n, 'with a >50% match somewhere', had, 'of which sent elsewhere', lost, 'predicted cached', predicted, 'actual', report.summary.cached_tokens);
await gw.close(); await fleet.close();
