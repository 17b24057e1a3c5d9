import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetRecorder } from '../../src/observability/fleet-recorder.js';
import { WindowedHistogram } from '../../src/observability/windowed-histogram.js';
import type { EndpointState } from '../../src/router/api.js';

function endpoint(id: string, over: Partial<EndpointState> = {}): EndpointState {
  return {
    info: { id, host: id.split(':')[0], port: Number(id.split(':')[1]), url: `http://${id}`, labels: {} },
    healthy: true,
    metrics: { waitingQueueSize: 2, runningRequests: 5, kvCacheUsage: 0.25, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: performance.now() },
    inFlightRequests: 3,
    inFlightSheddable: 0,
    dispatchedSinceScrape: 0,
    inFlightTokens: 0,
    dispatchedTokensSinceScrape: 0,
    ...over,
  };
}

function setup(opts: { recent?: number } = {}) {
  let now = 1_700_000_000_000;
  const eps = [endpoint('10.0.0.1:8000'), endpoint('10.0.0.2:8000', { healthy: false, metrics: undefined, inFlightRequests: 0 })];
  const queue = new Map([['10.0.0.1:8000', 4]]);
  const rec = new FleetRecorder({ list: () => eps }, { now: () => now, recent: opts.recent, gatewayQueue: () => queue, pool: 'p1' });
  return { rec, eps, advance: (ms: number) => (now += ms), now: () => now };
}

test('decisions are counted by reason: prefix match → prefix-hit, none → load, retry → fallback, shed', () => {
  const { rec } = setup();
  const a = rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000', prefixMatch: { matchedBlocks: 3, totalBlocks: 4 } });
  rec.recordDecision({ requestId: 'b', endpointId: '10.0.0.1:8000', prefixMatch: { matchedBlocks: 0, totalBlocks: 4 } });
  rec.recordDecision({ requestId: 'c', endpointId: '10.0.0.2:8000' });
  rec.recordRetry(a, '10.0.0.2:8000');
  rec.recordShed('d');
  const s = rec.snapshot();
  assert.deepEqual(s.decisionsTotal, { 'prefix-hit': 1, load: 2, fallback: 1, shed: 1 });
  assert.equal(s.pool, 'p1');
  assert.equal(s.decisionsPerSecond.load, 2 / s.rateWindowS);
  const byId = new Map(s.recent.map((r) => [r.requestId, r]));
  assert.equal(byId.get('a')!.reason, 'fallback');
  assert.equal(byId.get('a')!.endpoint, '10.0.0.2:8000');
  assert.equal(byId.get('d')!.status, 429);
  assert.equal(byId.get('d')!.endpoint, null);
  assert.deepEqual(s.recent.map((r) => r.requestId), ['d', 'c', 'b', 'a'], 'newest first');
});

test('completion: per-replica totals, hit rate, latency; TPOT derived as (e2e − ttft) ÷ (tokens − 1); errors kept out of latency', () => {
  const { rec } = setup();
  const t = rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(t, { endpointId: '10.0.0.1:8000', status: 200, ttftMs: 100, e2eMs: 1090, completionTokens: 100, promptTokens: 1000, cachedTokens: 750 });
  const t2 = rec.recordDecision({ requestId: 'b', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(t2, { endpointId: '10.0.0.1:8000', status: 503, ttftMs: 99_999 });
  const s = rec.snapshot();
  const r = s.replicas.find((x) => x.id === '10.0.0.1:8000')!;
  assert.equal(r.requests, 2);
  assert.equal(r.errors, 1);
  assert.equal(r.promptTokens, 1000);
  assert.equal(r.cachedTokens, 750);
  assert.equal(r.prefixHitRate, 0.75);
  assert.equal(r.gatewayQueue, 4);
  assert.equal(r.running, 5);
  assert.equal(r.waiting, 2);
  assert.equal(r.kvUsage, 0.25);
  assert.equal(r.inFlight, 3);
  const down = s.replicas.find((x) => x.id === '10.0.0.2:8000')!;
  assert.equal(down.healthy, false);
  assert.equal(down.running, null);
  assert.equal(down.prefixHitRate, null);
  assert.equal(s.latency.ttftMs.count, 1, 'the 503 is not a latency sample');
  assert.ok(Math.abs(s.latency.ttftMs.p50! - 100) / 100 < 0.1, `ttft p50 ${s.latency.ttftMs.p50}`);
  assert.ok(Math.abs(s.latency.tpotMs.p50! - 10) / 10 < 0.1, `tpot p50 ${s.latency.tpotMs.p50}`);
  assert.deepEqual(s.completions, { total: 2, errors: 1, promptTokens: 1000, cachedTokens: 750 });
  // A non-streamed response has a TTFT (arrival to first byte, as inference_objective_request_ttft_seconds
  // counts it) but no TPOT: it arrives whole.
  rec.recordCompletion(rec.recordDecision({ requestId: 'c', endpointId: '10.0.0.1:8000' }), { endpointId: '10.0.0.1:8000', status: 200, stream: false, ttftMs: 900, e2eMs: 900, completionTokens: 10 });
  const s2 = rec.snapshot();
  assert.equal(s2.latency.ttftMs.count, 2);
  assert.equal(s2.latency.tpotMs.count, 1);
  assert.equal(s2.recent[0].ttftMs, 900);
  assert.equal(s2.recent[0].tpotMs, null);
  const recent = s.recent.find((x) => x.requestId === 'a')!;
  assert.equal(recent.status, 200);
  assert.equal(recent.ttftMs, 100);
  assert.equal(recent.tpotMs, 10);
});

test('the hit rate decays: an old cold history weighs half after one half-life', () => {
  const { rec, advance } = setup();
  rec.recordCompletion(rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000' }), { endpointId: '10.0.0.1:8000', status: 200, promptTokens: 100, cachedTokens: 0 });
  advance(60_000);
  rec.recordCompletion(rec.recordDecision({ requestId: 'b', endpointId: '10.0.0.1:8000' }), { endpointId: '10.0.0.1:8000', status: 200, promptTokens: 100, cachedTokens: 100 });
  const r = rec.snapshot().replicas[0];
  assert.ok(Math.abs(r.prefixHitRate! - 100 / 150) < 1e-9, String(r.prefixHitRate));
});

test('memory is bounded: the recent ring keeps N, a stale ticket still counts but touches no other request', () => {
  const { rec } = setup({ recent: 4 });
  const first = rec.recordDecision({ requestId: 'r0', endpointId: '10.0.0.1:8000' });
  for (let i = 1; i < 10; i++) rec.recordDecision({ requestId: `r${i}`, endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(first, { endpointId: '10.0.0.1:8000', status: 200, ttftMs: 5 });
  rec.recordRetry(first, '10.0.0.2:8000');
  const s = rec.snapshot();
  assert.deepEqual(s.recent.map((r) => r.requestId), ['r9', 'r8', 'r7', 'r6']);
  assert.ok(s.recent.every((r) => r.status === null && r.endpoint === '10.0.0.1:8000'));
  assert.equal(s.completions.total, 1);
  assert.equal(s.decisionsTotal.fallback, 1);
});

test('a request answered before any pick (ticket -1, no endpoint) counts in the totals and the second\'s errors, in no replica row or recent entry', () => {
  const { rec, advance } = setup();
  const t = rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(t, { endpointId: '10.0.0.1:8000', status: 200, ttftMs: 5 });
  rec.recordCompletion(-1, { status: 404, errorCode: 'model_not_found' });
  rec.recordCompletion(-1, { status: 400, errorCode: 'invalid_json' });
  advance(1000);
  const { snapshot: s, point } = rec.tick();
  assert.deepEqual(s.completions, { total: 3, errors: 2, promptTokens: 0, cachedTokens: 0 });
  assert.equal(point!.completions, 3);
  assert.equal(point!.errors, 2);
  assert.deepEqual(s.replicas.map((r) => [r.id, r.requests, r.errors]), [['10.0.0.1:8000', 1, 0], ['10.0.0.2:8000', 0, 0]]);
  assert.deepEqual(s.recent.map((r) => [r.requestId, r.status, r.endpoint]), [['a', 200, '10.0.0.1:8000']]);
});

test('scores: built lazily, once, best first, capped', () => {
  const { rec } = setup();
  let calls = 0;
  const scores = Array.from({ length: 12 }, (_, i) => ({ endpointId: `e${i}`, total: i, byPlugin: { x: i / 12 } }));
  rec.recordDecision({ requestId: 'a', endpointId: 'e11', scores: () => (calls++, scores) });
  assert.equal(calls, 0, 'not built on the hot path');
  const s1 = rec.snapshot();
  rec.snapshot();
  assert.equal(calls, 1);
  assert.equal(s1.recent[0].scores.length, 8);
  assert.deepEqual(s1.recent[0].scores.slice(0, 2).map((r) => r.endpoint), ['e11', 'e10']);
});

test('tick: one history point per second with that second\'s decisions and the replicas; subscribers get it; old points drop', () => {
  const { rec, advance, now } = setup();
  const seen: number[] = [];
  const off = rec.subscribe((e) => seen.push(e.point!.atMs));
  advance(1000 - (now() % 1000)); // start of a second
  rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000', prefixMatch: { matchedBlocks: 1, totalBlocks: 1 } });
  rec.recordDecision({ requestId: 'b', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(0, { endpointId: '10.0.0.1:8000', status: 200, ttftMs: 40 });
  advance(1000);
  const e = rec.tick();
  assert.deepEqual(e.point!.decisions, { 'prefix-hit': 1, load: 1, fallback: 0, shed: 0 });
  assert.equal(e.point!.completions, 1);
  assert.ok(e.point!.ttftP50Ms! > 36 && e.point!.ttftP50Ms! < 44);
  assert.deepEqual(e.point!.replicas['10.0.0.1:8000'], { running: 5, waiting: 2, kvUsage: 0.25, inFlight: 3, gatewayQueue: 4 });
  assert.deepEqual(seen, [e.point!.atMs]);
  off();
  for (let i = 0; i < 400; i++) {
    advance(1000);
    rec.tick();
  }
  assert.equal(rec.historyPoints().length, 300);
  assert.equal(seen.length, 1, 'unsubscribed');
});

test('tick: a late tick (busy event loop) carries every second since the last point, so the charts lose no decision', () => {
  const { rec, advance, now } = setup();
  advance(1000 - (now() % 1000));
  rec.tick();
  for (let i = 0; i < 3; i++) {
    rec.recordDecision({ requestId: `r${i}`, endpointId: '10.0.0.1:8000' });
    advance(1000);
  }
  const e = rec.tick(); // three seconds after the last one
  assert.deepEqual(e.point!.decisions, { 'prefix-hit': 0, load: 3, fallback: 0, shed: 0 });
  rec.recordDecision({ requestId: 'next', endpointId: '10.0.0.1:8000' });
  advance(1000);
  assert.equal(rec.tick().point!.decisions.load, 1, 'no second counted twice');
});

test('endpoints that leave the datastore lose their stats', () => {
  const { rec, eps } = setup();
  rec.recordCompletion(rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.2:8000' }), { endpointId: '10.0.0.2:8000', status: 200 });
  eps.pop();
  rec.tick();
  eps.push(endpoint('10.0.0.2:8000'));
  assert.equal(rec.snapshot().replicas[1].requests, 0);
});

test('WindowedHistogram: percentiles within one bucket (±10 %) of the exact ones; the window forgets', () => {
  const h = new WindowedHistogram(1000, 60);
  const xs: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const v = 0.5 + ((i * 7919) % 10_000) / 10; // 0.5 … 1000.4 ms, evenly spread
    xs.push(v);
    h.observe(v, 5_000 + (i % 10) * 1000);
  }
  xs.sort((a, b) => a - b);
  const { values, count } = h.quantiles([0.5, 0.9, 0.99], 60_000, 20_000);
  assert.equal(count, 10_000);
  [0.5, 0.9, 0.99].forEach((q, i) => {
    const exact = xs[Math.ceil(q * xs.length) - 1];
    assert.ok(Math.abs(values[i]! - exact) / exact < 0.1, `q${q}: ${values[i]} vs ${exact}`);
  });
  assert.equal(h.quantiles([0.5], 60_000, 200_000).count, 0);
  assert.deepEqual(h.quantiles([0.5], 60_000, 200_000).values, [null]);
  h.observe(Number.NaN, 0);
  h.observe(-1, 0);
  assert.equal(h.quantiles([0.5], 60_000, 20_000).count, 10_000);
});

test("a client that went away (499) is in the totals' errors, as in the metric, but not its replica's errors; a stream the replica cut is", () => {
  const { rec, advance } = setup();
  const a = rec.recordDecision({ requestId: 'a', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(a, { endpointId: '10.0.0.1:8000', status: 499 });
  const b = rec.recordDecision({ requestId: 'b', endpointId: '10.0.0.1:8000' });
  rec.recordCompletion(b, { endpointId: '10.0.0.1:8000', status: 200, errorCode: 'upstream_failed' });
  advance(1000);
  const { snapshot: s } = rec.tick();
  assert.deepEqual(s.completions, { total: 2, errors: 2, promptTokens: 0, cachedTokens: 0 });
  assert.deepEqual(s.replicas.map((r) => [r.id, r.requests, r.errors]), [['10.0.0.1:8000', 2, 1], ['10.0.0.2:8000', 0, 0]]);
});
