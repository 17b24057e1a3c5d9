import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentlyServedModels } from '../../src/router/requestcontrol/recently-served.js';
import type { EndpointState } from '../../src/router/api.js';
import { Director } from '../../src/router/requestcontrol/index.js';
import { loadConfig } from '../../src/router/index.js';
import { KvgateError } from '../../src/shared/errors.js';
import { routerWith } from './helpers.js';

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

const MODELS_SOURCE = (window: unknown) => `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: models-data-source
  parameters:
    recentlyServedWindowSeconds: ${JSON.stringify(window)}
`;

/** A Director on a clock the test moves, over two endpoints: a serves modelA, b modelB. */
function directorOver(config: ReturnType<typeof loadConfig>) {
  let now = 1_000_000;
  const r = routerWith([{}, {}], config);
  const [a, b] = r.datastore.list().map((e) => e.info.id);
  r.datastore.setModels(a, [{ id: 'modelA', raw: { id: 'modelA' } }]);
  r.datastore.setModels(b, [{ id: 'modelB', raw: { id: 'modelB' } }]);
  const d = new Director({ router: r, now: () => now });
  return {
    leave: () => r.datastore.removeEndpoint(b),
    later: (seconds: number) => (now += seconds * 1000),
    status: (model: string) => {
      try {
        d.candidates(model);
        return 200;
      } catch (err) {
        return (err as KvgateError).status;
      }
    },
  };
}

test("models-data-source's recentlyServedWindowSeconds sets how long a model whose endpoints left is 503 before 404", () => {
  const short = directorOver(loadConfig({ text: MODELS_SOURCE(30) }));
  const byDefault = directorOver(loadConfig({ preset: 'kvgate' }));
  for (const f of [short, byDefault]) {
    assert.equal(f.status('modelB'), 200);
    f.leave();
    f.later(29);
    assert.equal(f.status('modelB'), 503, 'within every window');
    assert.equal(f.status('modelC'), 404, 'a model never served');
  }
  short.later(2);
  byDefault.later(2);
  assert.equal(short.status('modelB'), 404, '31 s on: past the 30 s window');
  assert.equal(byDefault.status('modelB'), 503, '31 s on: inside the default 5 minutes');
  byDefault.later(270);
  assert.equal(byDefault.status('modelB'), 404, 'past 5 minutes');
});

test('recentlyServedWindowSeconds: positive, at most a day (86400), a number; errors name the path', () => {
  for (const bad of [0, -5, 86_401, '5m']) {
    assert.throws(() => loadConfig({ text: MODELS_SOURCE(bad) }), (err: unknown) => err instanceof KvgateError && /plugins\[1\]\.parameters\.recentlyServedWindowSeconds: /.test(err.message), String(bad));
  }
  assert.doesNotThrow(() => loadConfig({ text: MODELS_SOURCE(86_400) }));
  // The EPP's own parameters of the plugin still load (kept without effect).
  assert.doesNotThrow(() => loadConfig({ text: MODELS_SOURCE(60).replace('    recentlyServedWindowSeconds', '    scrapeInterval: 10s\n    recentlyServedWindowSeconds') }));
});
