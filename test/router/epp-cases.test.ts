// The GIE / llm-d EPP's hermetic scheduling cases (reference §8.2) with the default config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerWith, req } from './helpers.js';
import { Director } from '../../src/router/requestcontrol/index.js';
import { loadConfig } from '../../src/router/index.js';
import { KvgateError } from '../../src/shared/errors.js';

test('queue and KV decide: (q3,kv.2),(q0,kv.1),(q10,kv.2) → pod 2', () => {
  const r = routerWith([{ queue: 3, kv: 0.2 }, { queue: 0, kv: 0.1 }, { queue: 10, kv: 0.2 }]);
  assert.equal(r.pick(req(), 10_000).endpoints[0].id, '192.168.1.2:8000');
});

const loraConfig = loadConfig({
  text: `
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: lora-affinity-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
    weight: 2
  - pluginRef: kv-cache-utilization-scorer
    weight: 2
  - pluginRef: lora-affinity-scorer
    weight: 3
`,
});

test('LoRA: active adapter and low queue win → pod 2', () => {
  const r = routerWith([{ queue: 0, kv: 0.2, loras: ['foo', 'bar'], maxLoras: 2 }, { queue: 0, kv: 0.1, loras: ['foo', 'sql-lora'], maxLoras: 2 }, { queue: 10, kv: 0.2, maxLoras: 2 }], loraConfig);
  assert.equal(r.pick(req({ model: 'sql-lora' }), 10_000).endpoints[0].id, '192.168.1.2:8000');
});

test('LoRA affinity beats KV when queues are equal → the only pod with the adapter', () => {
  const r = routerWith([{ queue: 10, kv: 0.2, loras: ['a', 'b'], maxLoras: 2 }, { queue: 10, kv: 0.4, loras: ['a', 'sql-lora'], maxLoras: 2 }, { queue: 10, kv: 0.3, loras: ['a', 'b'], maxLoras: 2 }], loraConfig);
  assert.equal(r.pick(req({ model: 'sql-lora' }), 10_000).endpoints[0].id, '192.168.1.2:8000');
});

test('do not shed by default: a saturated pool still routes priority ≥ 0 requests', () => {
  const r = routerWith([{ queue: 6, kv: 0.2 }, { queue: 0, kv: 0.85 }, { queue: 10, kv: 0.9 }]);
  assert.ok(r.pick(req({ priority: 0 }), 10_000).endpoints.length === 3);
});

test('a sheddable request (priority < 0) on a saturated pool gets 429 with Retry-After', () => {
  const r = routerWith([{ queue: 6, kv: 0.2 }, { queue: 10, kv: 0.85 }, { queue: 10, kv: 0.9 }]);
  assert.throws(
    () => r.pick(req({ priority: -1 }), 10_000),
    (e: unknown) => e instanceof KvgateError && e.status === 429 && e.headers['retry-after'] === '1' && e.headers['x-llm-d-request-dropped-reason'] === 'rejected-saturated',
  );
  const calm = routerWith([{ queue: 0, kv: 0.1 }]);
  assert.equal(calm.pick(req({ priority: -1 }), 10_000).endpoints.length, 1);
});

test('no pods → 503', () => {
  const r = routerWith([]);
  // With Retry-After, as every no-endpoint answer of the lifecycle: the pods come back.
  assert.throws(() => r.pick(req(), 10_000), (e: unknown) => e instanceof KvgateError && e.status === 503 && e.headers?.['retry-after'] === '1');
});

test('subset hints: best of the subset; a single pod despite its queue; none eligible → 503', () => {
  const pods = [{ queue: 3, kv: 0.2 }, { queue: 0, kv: 0.1 }, { queue: 10, kv: 0.2 }];
  const r = routerWith(pods);
  // The lifecycle narrows the candidates (subset, health, model); the scheduler picks among them.
  const d = new Director({ router: r });
  const pick = (subset: string[]) => r.pick(req({ subset }), 10_000, d.candidates('my-model', subset));
  assert.equal(pick(['192.168.1.1:8000', '192.168.1.2:8000', '192.168.1.3:8000']).endpoints[0].id, '192.168.1.2:8000');
  assert.equal(pick(['192.168.1.3']).endpoints[0].id, '192.168.1.3:8000');
  assert.throws(() => pick(['192.168.1.99']), (e: unknown) => e instanceof KvgateError && e.status === 503);
  assert.throws(() => pick([]), (e: unknown) => e instanceof KvgateError && e.status === 503);
});

test('fallbacks: the ordered list holds every candidate, best first', () => {
  const r = routerWith([{ queue: 3, kv: 0.2 }, { queue: 0, kv: 0.1 }, { queue: 10, kv: 0.2 }]);
  const res = r.pick(req(), 10_000);
  assert.deepEqual(res.endpoints.map((e) => e.id), ['192.168.1.2:8000', '192.168.1.1:8000', '192.168.1.3:8000']);
  assert.equal(res.scores.length, 3);
});

test('stale metrics count as unknown: a pod not scraped for > 2 s loses to fresh ones', () => {
  const r = routerWith([{ queue: 0, kv: 0.0, ageMs: 5000 }, { queue: 2, kv: 0.3 }]);
  assert.equal(r.pick(req(), 10_000).endpoints[0].id, '192.168.1.2:8000');
});
