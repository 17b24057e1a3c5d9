// Per-request cost of the dashboard's FleetRecorder on the hot path: one recordDecision plus one
// recordCompletion (what the gateway calls per request), and the once-a-second snapshot/tick.
// `npm run bench:fleet-recorder`; prints a table, then one JSON line.
import { FleetRecorder } from '../src/observability/fleet-recorder.js';
import type { EndpointState, EndpointScore } from '../src/router/api.js';
import { printTable } from './lib.js';

const ENDPOINTS = 16;
const N = 2_000_000;
const states: EndpointState[] = Array.from({ length: ENDPOINTS }, (_, i) => ({
  info: { id: `10.0.0.${i}:8000`, host: `10.0.0.${i}`, port: 8000, url: `http://10.0.0.${i}:8000`, labels: {} },
  healthy: true,
  metrics: { waitingQueueSize: 1, runningRequests: 4, kvCacheUsage: 0.4, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: performance.now() },
  inFlightRequests: 3,
  inFlightSheddable: 0,
  dispatchedSinceScrape: 0,
  inFlightTokens: 100,
  dispatchedTokensSinceScrape: 0,
}));
const scores: EndpointScore[] = states.map((s, i) => ({ endpointId: s.info.id, total: i / ENDPOINTS, byPlugin: { 'prefix-cache-scorer': 0.5, 'load-aware-scorer': 0.3 } }));
const rec = new FleetRecorder({ list: () => states });
const ids = states.map((s) => s.info.id);
const reqIds = Array.from({ length: 1024 }, (_, i) => `req-${i}`);

function run(n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ep = ids[i % ENDPOINTS];
    const t = rec.recordDecision({ requestId: reqIds[i & 1023], endpointId: ep, prefixMatch: { matchedBlocks: i & 1, totalBlocks: 4 }, scores: () => scores });
    rec.recordCompletion(t, { endpointId: ep, status: 200, ttftMs: 20 + (i % 100), e2eMs: 400 + (i % 300), promptTokens: 2000, completionTokens: 100, cachedTokens: 1500 });
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

run(200_000); // warm up
const perRequestNs = Math.min(run(N), run(N), run(N));
const ticks = 300;
const t0 = process.hrtime.bigint();
for (let i = 0; i < ticks; i++) rec.tick();
const tickUs = Number(process.hrtime.bigint() - t0) / ticks / 1000;
const json = JSON.stringify({ snapshot: rec.snapshot(), history: rec.historyPoints() }).length;
global.gc?.();
const heap = process.memoryUsage().heapUsed;

console.log(`\nFleetRecorder — ${ENDPOINTS} endpoints, ${N.toLocaleString()} requests per run (best of 3)`);
printTable([
  ['what', 'cost'],
  ['recordDecision + recordCompletion, per request', `${perRequestNs.toFixed(0)} ns`],
  ['tick (snapshot + history point), once a second', `${tickUs.toFixed(0)} µs`],
  ['first SSE event (snapshot + 300 s history), JSON', `${(json / 1024).toFixed(1)} KiB`],
  ['heap after (whole process)', `${(heap / 1048576).toFixed(1)} MiB`],
]);
console.log(JSON.stringify({ endpoints: ENDPOINTS, per_request_ns: +perRequestNs.toFixed(1), tick_us: +tickUs.toFixed(1), first_event_bytes: json, heap_bytes: heap }));
