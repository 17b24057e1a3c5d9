// The dispatch gate, the flow id and the drop answers: pure functions of endpoint state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaturationGate, detectorThresholds, dropError, flowIdOf } from '../../src/router/flowcontrol/index.js';
import { MemoryDatastore, createRouter, loadConfig } from '../../src/router/index.js';
import type { EndpointMetrics, EndpointState } from '../../src/router/api.js';
import { toOpenAIError } from '../../src/shared/errors.js';

const gate = (o: Partial<ConstructorParameters<typeof SaturationGate>[0]> = {}) =>
  new SaturationGate({ queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8, metricsStalenessMs: 200, headroom: 0, maxNumSeqsFactor: 1.5, defaultMaxNumSeqs: 256, ...o });

function ep(id: string, inFlight: number, m?: Partial<EndpointMetrics>): EndpointState {
  return {
    info: { id, host: id, port: 1, url: `http://${id}`, labels: {} },
    healthy: true,
    inFlightRequests: inFlight,
    inFlightSheddable: 0,
    dispatchedSinceScrape: 0,
    inFlightTokens: 0,
    dispatchedTokensSinceScrape: 0,
    metrics: m ? { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: 1000, ...m } : undefined,
  };
}

test('the concurrency cap is max_num_seqs × factor: reported, else the default, raised by the running peak seen', () => {
  const g = gate();
  assert.equal(g.cap(ep('a', 0, { maxNumSeqs: 64 })), 96);
  assert.equal(g.cap(ep('b', 0)), 384, 'unknown: --max-num-seqs 256 × 1.5');
  g.observe('b', { waitingQueueSize: 0, runningRequests: 400, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: 0 });
  assert.equal(g.cap(ep('b', 0)), 600, 'an engine seen running 400 is not held at 384');
  g.forget('b');
  assert.equal(g.cap(ep('b', 0)), 384);
});

test("GIE's thresholds: fresh waiting ≥ 5 or KV ≥ 0.8 saturates an endpoint; the others stay eligible", () => {
  const g = gate();
  const now = 1100;
  const a = g.assess([ep('q', 0, { waitingQueueSize: 5 }), ep('kv', 0, { kvCacheUsage: 0.85 }), ep('ok', 0, { waitingQueueSize: 4, kvCacheUsage: 0.5 })], now);
  assert.deepEqual(a.eligible.map((e) => e.info.id), ['ok']);
  assert.ok(a.saturation > 0.9 && a.saturation < 1, `mean of 1, 1.0625, 0.8 (${a.saturation})`);
  assert.equal(g.assess([], now).saturation, 1, 'an empty pool is saturated');
});

test('stale or missing metrics do not stop dispatch: the in-flight count against the cap decides', () => {
  const g = gate();
  const stale = ep('s', 10, { waitingQueueSize: 50, kvCacheUsage: 0.99, maxNumSeqs: 16, updatedAtMs: 0 });
  assert.equal(g.assess([stale], 1000).eligible.length, 1, 'stale: waiting and KV ignored, 10 in flight < 16 + 5');
  assert.equal(g.assess([ep('none', 383)], 1000).eligible.length, 1);
  assert.equal(g.assess([ep('none', 384)], 1000).eligible.length, 0, 'at the cap');
});

test('with max_num_seqs known, in-flight beyond it counts as engine queue between two scrapes', () => {
  const g = gate();
  // Metrics say nothing waits, but the gateway sent 20 + 5 to an engine of 20 slots.
  assert.equal(g.assess([ep('a', 24, { maxNumSeqs: 20 })], 1100).eligible.length, 1);
  assert.equal(g.assess([ep('a', 25, { maxNumSeqs: 20 })], 1100).eligible.length, 0);
  const headroom = gate({ headroom: 0.5 });
  assert.equal(headroom.assess([ep('a', 25, { maxNumSeqs: 20 })], 1100).eligible.length, 1, 'headroom tolerates 1.5× the thresholds');
});

test('sheddable requests take only free batch slots, up to --sheddable-max-fill of them, and never an engine queue', () => {
  const g = gate({ sheddableMaxFill: 0.9 });
  // All in flight are sheddable here: no slots are reserved for other requests.
  const at = (inFlight: number, waiting = 0) => ({ ...ep('a', inFlight, { maxNumSeqs: 20, waitingQueueSize: waiting }), inFlightSheddable: inFlight });
  assert.equal(g.assess([at(17)], 1100, undefined, true).eligible.length, 1);
  assert.equal(g.assess([at(18)], 1100, undefined, true).eligible.length, 0, '18 of 20 slots: the last two stay free');
  assert.equal(g.assess([at(18)], 1100).eligible.length, 1, 'a critical request still goes (up to 20 + 4 queued)');
  assert.equal(g.assess([at(3, 1)], 1100, undefined, true).eligible.length, 0, 'the engine has a queue: not for sheddable work');
});

test('sheddable requests leave the slots that other requests have been using: their mean in flight plus one standard deviation', () => {
  const g = gate({ sheddableMaxFill: 0.9, reserveWindowMs: 2000 });
  const at = (critical: number, sheddable: number) => ({ ...ep('a', critical + sheddable, { maxNumSeqs: 20 }), inFlightSheddable: sheddable });
  // Critical traffic has kept 16 of 20 slots busy: 16 + 4 reserved ≥ 18 usable, nothing for sheddable.
  for (let t = 0; t < 10_000; t += 100) g.assess([at(16, 0)], t);
  assert.equal(g.assess([at(10, 0)], 10_000, undefined, true).eligible.length, 0, 'a momentary dip below the mean does not free the reserve');
  // Critical demand falls to 4 for a while: 4 + 2 reserved, sheddable may use the rest up to 18.
  for (let t = 10_000; t < 30_000; t += 100) g.assess([at(4, 0)], t);
  assert.equal(g.assess([at(4, 5)], 30_000, undefined, true).eligible.length, 1);
  assert.equal(g.assess([at(4, 12)], 30_000, undefined, true).eligible.length, 0, '12 sheddable + 4 critical + 2 spare: the rest is kept');
  assert.equal(g.assess([at(4, 12)], 30_000).eligible.length, 1, 'critical requests are not held back by the reserve');
});

test('requests sent since the last scrape count in the engine queue as far as its free slots and one step of prefill budget cannot start them, until they start or the next scrape', () => {
  const ds = new MemoryDatastore();
  ds.upsertEndpoint({ id: 'a', host: 'a', port: 1, url: 'http://a', labels: {} });
  const metrics = { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0.1, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: 1000, blockSize: 16, numGpuBlocks: 1000, maxNumBatchedTokens: 2048 };
  ds.updateMetrics('a', metrics);
  const g = gate();
  const a = () => ds.get('a')!;
  // Prefill budget: 1,000-token prompts, 2,048 tokens per step. n sent → n × (1 − 2048 / 1000n) = n − 2.048 wait.
  for (let i = 0; i < 7; i++) ds.dispatch(`r${i}`, 'a', 1000);
  assert.equal(a().dispatchedSinceScrape, 7);
  assert.equal(g.assess([a()], 1100).eligible.length, 1, '7 unseen requests: about 2 fit the first step, 4.95 wait (< 5)');
  ds.dispatch('r7', 'a', 1000);
  assert.equal(g.assess([a()], 1100).eligible.length, 0, 'an eighth: 5.95 wait before any scrape shows it');
  ds.firstToken('r0');
  assert.equal(a().dispatchedSinceScrape, 7, 'a started request left the waiting queue');
  assert.equal(g.assess([a()], 1100).eligible.length, 1);
  ds.release('r0');
  assert.equal(a().dispatchedSinceScrape, 7, 'ending a request that already started changes nothing more');
  ds.dispatch('big', 'a', 12_000);
  assert.equal(g.assess([a()], 1100, undefined).eligible.length, 0, 'KV 0.1 + 19,000 unseen tokens of 16,000 slots ≥ 0.8');
  ds.updateMetrics('a', { ...metrics, updatedAtMs: 1200 });
  assert.equal(a().dispatchedSinceScrape, 0, 'the scrape sees them now');
  assert.equal(g.assess([a()], 1250).eligible.length, 1);
  // Batch slots: tiny prompts fit the budget, but an engine with 4 free slots queues the rest.
  for (const id of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'big']) ds.release(id);
  ds.updateMetrics('a', { ...metrics, maxNumSeqs: 6, runningRequests: 2, updatedAtMs: 1300 });
  for (let i = 0; i < 8; i++) ds.dispatch(`s${i}`, 'a', 10);
  assert.equal(g.assess([a()], 1350).eligible.length, 1, '8 sent, 4 free slots: 4 wait');
  ds.dispatch('s8', 'a', 10);
  assert.equal(g.assess([a()], 1350).eligible.length, 0, '9 sent: 5 wait');
  // Unreported budget: --max-num-batched-tokens (default 2,048) stands in.
  for (let i = 0; i < 9; i++) ds.release(`s${i}`);
  ds.updateMetrics('a', { ...metrics, maxNumBatchedTokens: undefined, updatedAtMs: 1400 });
  for (let i = 0; i < 8; i++) ds.dispatch(`t${i}`, 'a', 1000);
  assert.equal(g.assess([a()], 1450).eligible.length, 0);
  assert.equal(gate({ defaultMaxNumBatchedTokens: 8192 }).assess([a()], 1450).eligible.length, 1, 'an engine of 8,192 tokens per step starts all 8');
});

test('once some replica has room, the scheduler chooses among every endpoint under its cap, busy ones too; sheddable requests only the eligible', () => {
  const g = gate();
  const cached = ep('cached', 0, { waitingQueueSize: 6 });
  const idle = ep('idle', 0, {});
  const r = g.assess([cached, idle], 1100);
  assert.deepEqual(r.eligible.map((e) => e.info.id), ['idle']);
  assert.deepEqual(r.targets.map((e) => e.info.id), ['cached', 'idle'], 'affinity may still pick the busy replica holding the prefix');
  assert.deepEqual(g.assess([cached, idle], 1100, undefined, true).targets.map((e) => e.info.id), ['idle']);
  const full = ep('full', 0, { waitingQueueSize: 10 });
  assert.equal(g.assess([full, ep('idle', 0, { waitingQueueSize: 0 })], 1100).targets.length, 2, 'one replica with room is enough: a hot spot does not hold the pool back');
  assert.equal(g.assess([full, ep('busy', 0, { waitingQueueSize: 5 })], 1100).targets.length, 0, 'no replica with room: wait in the gateway queue');
  const herded = { ...ep('full', 0, { waitingQueueSize: 10 }), dispatchedSinceScrape: 4 };
  assert.equal(g.assess([herded, ep('idle', 0, {})], 1100).targets.length, 2, '4 sent to the full replica since its scrape, 5 places left on the idle one');
  assert.equal(g.assess([{ ...herded, dispatchedSinceScrape: 5 }, ep('idle', 0, {})], 1100).targets.length, 0, "what went to the full replica used up the idle one's room: a release cannot herd");
  assert.equal(g.assess([ep('capped', 384)], 1100).targets.length, 0, 'at its concurrency cap: never a target');
  const kvFull = ep('kv', 0, { kvCacheUsage: 0.95 });
  const k = g.assess([kvFull], 1100);
  assert.equal(k.eligible.length, 0, "GIE's KV threshold: saturated");
  assert.ok(k.saturation > 1);
  assert.equal(k.targets.length, 1, 'a full cache with no engine queue is a full batch: requests that are not sheddable still go');
  assert.equal(g.assess([kvFull], 1100, undefined, true).targets.length, 0, 'sheddable ones do not');
});

test('a TTFT predictor saturates an endpoint whose predicted TTFT reaches the threshold (fresh metrics only)', () => {
  const g = gate({ ttftThresholdMs: 2000 });
  const slow = ep('slow', 0, {});
  const fast = ep('fast', 0, {});
  const predict = (e: EndpointState) => (e.info.id === 'slow' ? 2500 : 100);
  assert.deepEqual(g.assess([slow, fast], 1100, predict).eligible.map((e) => e.info.id), ['fast']);
  assert.equal(g.assess([slow, fast], 5000, predict).eligible.length, 2, 'stale: the prediction is not used');
  assert.equal(gate().assess([slow, fast], 1100, predict).eligible.length, 2, 'no threshold, no TTFT gate');
});

test('the kvgate preset predicts the TTFT load adds: a long prompt on an idle replica is not saturation, work queued ahead is', () => {
  const r = createRouter({ config: loadConfig({ preset: 'kvgate' }) });
  r.datastore.setEndpoints([
    { id: 'idle:1', host: 'idle', port: 1, url: 'http://idle:1', labels: {} },
    { id: 'busy:1', host: 'busy', port: 1, url: 'http://busy:1', labels: {} },
  ]);
  const now = 1000;
  const m = (waiting: number) => ({ waitingQueueSize: waiting, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: now });
  r.datastore.updateMetrics('idle:1', m(0));
  r.datastore.updateMetrics('busy:1', m(200));
  const route = { id: 'r', model: 'm', api: 'completions' as const, prefixText: '', promptTokens: 75_000, stream: false, priority: 0 };
  const predict = r.ttftPredictor(route)!;
  const [idle, busy] = r.datastore.list();
  assert.ok(predict(idle, now)! < 100, `idle: ${predict(idle, now)} ms although its own prefill takes seconds`);
  assert.ok(predict(busy, now)! > 2000, `200 queued requests ahead: ${predict(busy, now)} ms`);
  const g = gate({ ttftThresholdMs: 2000 });
  assert.deepEqual(g.assess([idle, busy], now, predict).eligible.map((e) => e.info.id), ['idle:1']);
  assert.equal(createRouter({ config: loadConfig({ preset: 'gie-default' }) }).ttftPredictor(route), undefined, 'no TTFT scorer, no predictor');
});

test("the gate's thresholds come from the config's utilization-detector", () => {
  const t = detectorThresholds(
    loadConfig({
      text: `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- {type: utilization-detector, name: sd, parameters: {queueDepthThreshold: 8, kvCacheUtilThreshold: 0.9, metricsStalenessThreshold: 1s, headroom: 0.2}}
- type: queue-scorer
saturationDetector: {pluginRef: sd}
`,
    }),
  );
  assert.deepEqual(t, { queueDepthThreshold: 8, kvCacheUtilThreshold: 0.9, metricsStalenessMs: 1000, headroom: 0.2 });
  assert.deepEqual(detectorThresholds(loadConfig({ preset: 'kvgate' })), { queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8, metricsStalenessMs: 200, headroom: 0 });
});

test('the flow: the fairness id only when routing headers are trusted, else the API key, else the model', () => {
  const h = { 'x-gateway-inference-fairness-id': 'tenant-a', authorization: 'Bearer k1' };
  assert.equal(flowIdOf(h, 'm', true), 'f:tenant-a');
  assert.equal(flowIdOf({ 'x-llm-d-inference-fairness-id': 'tenant-b' }, 'm', true), 'f:tenant-b');
  assert.equal(flowIdOf(h, 'm', false), 'k:Bearer k1');
  assert.equal(flowIdOf({}, 'm', true), 'm:m');
  assert.equal(flowIdOf({ 'x-gateway-inference-fairness-id': 'x'.repeat(10_000) }, 'm', true).length, 258, 'bounded');
});

test('drops answer as GIE: 429 + Retry-After for sheddable, 503 for the others, with the drop reason', () => {
  for (const reason of ['rejected-saturated', 'rejected-ttl-expired', 'evicted-queue-pressure'] as const) {
    const s = toOpenAIError(dropError(reason, -1, 60_000));
    assert.equal(s.status, 429);
    assert.equal(s.headers['retry-after'], '1');
    assert.equal(s.headers['x-llm-d-request-dropped-reason'], reason);
    const c = toOpenAIError(dropError(reason, 0, 60_000));
    assert.equal(c.status, 503);
    assert.equal(c.headers['x-llm-d-request-dropped-reason'], reason);
    assert.ok(c.headers['retry-after']);
  }
  assert.equal(toOpenAIError(dropError('rejected-ttl-expired', 0, 60_000)).body.error.code, 'queue_timeout');
  assert.equal(toOpenAIError(dropError('rejected-saturated', 0, 60_000)).body.error.code, 'overloaded');
});
