// One case suite every scorer and picker runs (as hono tests all its routers with one file).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pluginsOfKind } from '../../src/router/plugins/registry.js';
import type { CycleContext, Picker, Scorer } from '../../src/router/plugins/types.js';
import type { EndpointState } from '../../src/router/api.js';
import { seeded, req } from './helpers.js';

const NOW = 50_000;
function endpoints(kind: 'fresh' | 'stale' | 'missing', n = 4): EndpointState[] {
  return Array.from({ length: n }, (_, i) => ({
    info: { id: `10.1.0.${i}:8000`, host: `10.1.0.${i}`, port: 8000, url: '', labels: { 'llm-d.ai/role': 'decode' } },
    healthy: true,
    inFlightRequests: i * 3,
    inFlightSheddable: 0,
    dispatchedSinceScrape: 0,
    inFlightTokens: i * 1000,
    dispatchedTokensSinceScrape: i * 100,
    metrics:
      kind === 'missing'
        ? undefined
        : { waitingQueueSize: i * 2, runningRequests: i, kvCacheUsage: i / n, activeLoras: i ? ['x'] : [], waitingLoras: [], maxLoras: 2, updatedAtMs: kind === 'stale' ? NOW - 60_000 : NOW },
  }));
}
function ctx(eps: EndpointState[], seed = 3): CycleContext {
  return {
    request: req({ promptTokens: 800, sessionId: 's1' }),
    nowMs: NOW,
    random: seeded(seed),
    staleAfterMs: 2000,
    allEndpoints: eps,
    prefix: { totalBlocks: 10, blockTokens: 16, matched: new Map([[eps[1]?.info.id ?? 'none', 6]]) },
  };
}

describe('every scorer', () => {
  for (const def of pluginsOfKind('scorer')) {
    const make = () => def.create(def.parameters.parse({}), { name: def.type }) as Scorer;
    for (const kind of ['fresh', 'stale', 'missing'] as const) {
      test(`${def.type}: one score in [0, 1] per endpoint with ${kind} metrics`, () => {
        const eps = endpoints(kind);
        const scores = make().score(ctx(eps), eps);
        assert.equal(scores.length, eps.length);
        for (const s of scores) assert.ok(Number.isFinite(s) && s >= 0 && s <= 1, `${s}`);
      });
    }
    test(`${def.type}: empty candidate list gives an empty score list`, () => {
      assert.deepEqual(make().score(ctx([]), []), []);
    });
    test(`${def.type}: deterministic for a seed`, () => {
      const eps = endpoints('fresh');
      assert.deepEqual(make().score(ctx(eps, 9), eps), make().score(ctx(eps, 9), eps));
    });
  }
});

describe('every picker', () => {
  for (const def of pluginsOfKind('picker')) {
    const make = (params: Record<string, unknown> = {}) => def.create(def.parameters.parse(params), { name: def.type }) as Picker;
    for (const kind of ['fresh', 'stale', 'missing'] as const) {
      test(`${def.type}: picks one of the candidates with ${kind} metrics`, () => {
        const eps = endpoints(kind);
        const out = make().pick(ctx(eps), eps.map((e, i) => ({ endpoint: e, total: i / 4 })));
        assert.equal(out.length, 1);
        assert.ok(eps.includes(out[0]));
      });
    }
    test(`${def.type}: maxNumOfEndpoints returns distinct endpoints, at most that many`, () => {
      const eps = endpoints('fresh');
      const out = make({ maxNumOfEndpoints: 3 }).pick(ctx(eps), eps.map((e) => ({ endpoint: e, total: 0.5 })));
      assert.equal(out.length, 3);
      assert.equal(new Set(out).size, 3);
    });
    test(`${def.type}: deterministic for a seed`, () => {
      const eps = endpoints('fresh');
      const run = () => make().pick(ctx(eps, 11), eps.map((e) => ({ endpoint: e, total: 0.5 })))[0].info.id;
      assert.equal(run(), run());
    });
  }
});
