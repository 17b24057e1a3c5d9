import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentlyServedModels } from '../../src/router/requestcontrol/recently-served.js';
import type { EndpointState } from '../../src/router/api.js';

const left = (models: string[], loras: string[] = []): EndpointState => ({
  info: { id: 'x:1', host: 'x', port: 1, url: 'http://x:1', labels: {} },
  healthy: true,
  inFlightRequests: 0,
  inFlightSheddable: 0,
  inFlightTokens: 0,
  dispatchedTokensSinceScrape: 0,
  dispatchedSinceScrape: 0,
  models: models.map((id) => ({ id, root: id, entry: { id } })) as unknown as EndpointState['models'],
  metrics: { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: loras, waitingLoras: [], maxLoras: 4, updatedAtMs: 0 },
});

test('models of an endpoint that left are remembered for the window, LoRA adapters from its metric included', () => {
  const r = new RecentlyServedModels(1_000, 10);
  r.endpointLeft(left(['base'], ['adapter']), 5_000);
  assert.equal(r.has('base', 5_500), true);
  assert.equal(r.has('adapter', 6_000), true);
  assert.equal(r.has('other', 5_500), false);
  assert.equal(r.has('base', 6_001), false, 'past the window');
  assert.equal(r.has('base', 5_500), false, 'and forgotten');
});

test('at most maxModels are kept, the longest gone first', () => {
  const r = new RecentlyServedModels(60_000, 2);
  r.endpointLeft(left(['m1']), 0);
  r.endpointLeft(left(['m2']), 1);
  r.endpointLeft(left(['m1']), 2); // m1 left again: now the newest
  r.endpointLeft(left(['m3']), 3);
  assert.deepEqual(['m1', 'm2', 'm3'].map((m) => r.has(m, 4)), [true, false, true]);
});
