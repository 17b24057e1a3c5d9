// Unit-level acceptance cases of the reference (§8.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utilizationDetector } from '../../src/router/plugins/saturation/utilization-detector.js';
import { queueScorer } from '../../src/router/plugins/scorers/queue-scorer.js';
import { kvCacheUtilizationScorer } from '../../src/router/plugins/scorers/kv-cache-utilization-scorer.js';
import { maxScorePicker } from '../../src/router/plugins/pickers/max-score-picker.js';
import { loadAwareScorer } from '../../src/router/plugins/scorers/load-aware-scorer.js';
import type { CycleContext, SaturationDetector, Scorer, Picker } from '../../src/router/plugins/types.js';
import type { EndpointState } from '../../src/router/api.js';
import { seeded, req } from './helpers.js';

const NOW = 10_000;
function ep(i: number, q?: number, kv?: number, ageMs = 0): EndpointState {
  return {
    info: { id: `10.0.0.${i}:8000`, host: `10.0.0.${i}`, port: 8000, url: '', labels: {} },
    healthy: true,
    inFlightRequests: 0,
    inFlightSheddable: 0,
    dispatchedSinceScrape: 0,
    inFlightTokens: 0,
    dispatchedTokensSinceScrape: 0,
    metrics: q === undefined ? undefined : { waitingQueueSize: q, runningRequests: 0, kvCacheUsage: kv!, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: NOW - ageMs },
  };
}
const ctx = (random = seeded()): CycleContext => ({ request: req(), nowMs: NOW, random, staleAfterMs: 2000, allEndpoints: [] });

test('utilization detector values (q=5, kv=0.9, staleness 100 ms)', () => {
  const d = utilizationDetector.create(utilizationDetector.parameters.parse({ queueDepthThreshold: 5, kvCacheUtilThreshold: 0.9, metricsStalenessThreshold: '100ms' }), { name: 'd' }) as SaturationDetector;
  const s = (eps: EndpointState[]) => d.saturation(ctx(), eps);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-4, `${a} ≈ ${b}`);
  close(s([]), 1);
  close(s([ep(1, 2, 0.5)]), 0.5 / 0.9);
  close(s([ep(1, 2, 0.5, 500)]), 1);
  close(s([ep(1, 10, 0.1)]), 2);
  close(s([ep(1, 1, 0.95)]), 1.0556);
  close(s([ep(1, 1, 0.1), ep(2, 0, 0.2)]), (0.2 + 0.2222) / 2);
  close(s([ep(1, 1, 0.1), ep(2, 0, 0.2, 500)]), 0.6);
  close(s([ep(1, 1, 0.1), ep(2, 15, 0.1)]), 1.6);
  close(s([ep(1, 5, 0)]), 1);
});

test('queue scorer: min-max; equal → all 1; all zero → 1', () => {
  const sc = queueScorer.create({}, { name: 'q' }) as Scorer;
  assert.deepEqual(sc.score(ctx(), [ep(1, 0, 0), ep(2, 5, 0), ep(3, 10, 0)]), [1, 0.5, 0]);
  assert.deepEqual(sc.score(ctx(), [ep(1, 4, 0), ep(2, 4, 0)]), [1, 1]);
  assert.deepEqual(sc.score(ctx(), [ep(1, 0, 0), ep(2, 0, 0)]), [1, 1]);
});

test('KV scorer: 1 − kv', () => {
  const sc = kvCacheUtilizationScorer.create({}, { name: 'k' }) as Scorer;
  assert.deepEqual(sc.score(ctx(), [ep(1, 0, 0), ep(2, 0, 1), ep(3, 0, 0.25)]), [1, 0, 0.75]);
});

test('load-aware scorer: empty queue 0.5, threshold 128', () => {
  const sc = loadAwareScorer.create(loadAwareScorer.parameters.parse({}), { name: 'l' }) as Scorer;
  assert.deepEqual(sc.score(ctx(), [ep(1, 0, 0), ep(2, 64, 0), ep(3, 500, 0)]), [0.5, 0.25, 0]);
});

test('max-score picker: ties broken randomly; N > candidates → all, sorted descending', () => {
  const p = maxScorePicker.create({ maxNumOfEndpoints: 1 }, { name: 'p' }) as Picker;
  const eps = [ep(1), ep(2), ep(3)];
  const seen = new Set<string>();
  const random = seeded(7);
  for (let i = 0; i < 50; i++) seen.add(p.pick(ctx(random), eps.map((e) => ({ endpoint: e, total: 1 })))[0].info.id);
  assert.equal(seen.size, 3, 'every tied endpoint gets picked sometimes');
  const many = maxScorePicker.create({ maxNumOfEndpoints: 10 }, { name: 'p' }) as Picker;
  const out = many.pick(ctx(), [{ endpoint: eps[0], total: 0.1 }, { endpoint: eps[1], total: 0.9 }, { endpoint: eps[2], total: 0.5 }]);
  assert.deepEqual(out.map((e) => e.info.id), ['10.0.0.2:8000', '10.0.0.3:8000', '10.0.0.1:8000']);
});
