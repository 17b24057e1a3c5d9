import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { InferenceObjectiveWatcher } from '../../src/datalayer/sources/inference-objectives.js';
import { findKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import { parseOpenAIRequest } from '../../src/router/parse-request.js';
import { silentLogger, type Logger } from '../../src/shared/logger.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { FakeKubeApi, OBJECTIVES, objective, until } from './kubernetes-fake-api.js';

function watcher(api: FakeKubeApi, base?: Map<string, number>, extra: { logger?: Logger; listTimeoutMs?: number; resyncMs?: number } = {}) {
  const config = findKubeConfig({ kubeconfig: api.kubeconfig({ token: 't' }), env: {} })!;
  return new InferenceObjectiveWatcher({ poolName: 'pool', namespace: 'ns', config, base, logger: silentLogger(), backoffMs: 20, crdPollMs: 50, ...extra });
}

const priorityOf = (objectives: ReadonlyMap<string, number>, name: string) =>
  parseOpenAIRequest('/v1/completions', Buffer.from('{"model":"m","prompt":"x"}'), { requestId: 'objective-test', headers: { 'x-gateway-inference-objective': name }, trustRoutingHeaders: true, objectives }).route.priority;

test("InferenceObjectives of this pool feed the objective → priority map live; other pools' do not; flags win", async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(OBJECTIVES('ns'), objective('premium', 10, 'pool'));
  api.put(OBJECTIVES('ns'), objective('batch', -1, 'pool'));
  api.put(OBJECTIVES('ns'), objective('defaulted', undefined, 'pool'));
  api.put(OBJECTIVES('ns'), objective('foreign', 99, 'other-pool'));
  api.put(OBJECTIVES('ns'), objective('pinned', 5, 'pool'));
  const w = watcher(api, new Map([['pinned', 7]]));
  w.start();
  try {
    await until(() => w.synced && w.objectives.size === 4, 'listed');
    assert.deepEqual(Object.fromEntries(w.objectives), { premium: 10, batch: -1, defaulted: 0, pinned: 7 });
    assert.equal(w.apiVersion, 'inference.networking.x-k8s.io/v1alpha2');
    // The router reads the same map object: a request naming the objective gets its priority.
    assert.equal(priorityOf(w.objectives, 'premium'), 10);
    assert.equal(priorityOf(w.objectives, 'batch'), -1, 'negative priority: sheddable');
    assert.equal(priorityOf(w.objectives, 'foreign'), 0, "another pool's objective is not ours");
    api.put(OBJECTIVES('ns'), objective('premium', 20, 'pool'));
    api.delete(OBJECTIVES('ns'), 'batch');
    api.put(OBJECTIVES('ns'), objective('foreign', 3, 'pool')); // re-pointed at our pool
    await until(() => w.objectives.get('premium') === 20 && !w.objectives.has('batch') && w.objectives.get('foreign') === 3, 'watch events applied');
    assert.equal(priorityOf(w.objectives, 'batch'), 0, 'deleted: back to the default priority');
    assert.equal(api.lists(OBJECTIVES('ns')), 2, 'the CRD probe and one list; the changes came by watch');
  } finally {
    await w.stop();
    await api.close();
  }
});

test('no InferenceObjective CRD: not an error, the flags apply; a CRD installed later is picked up', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  const w = watcher(api, new Map([['gold', 4]]));
  w.start();
  try {
    await until(() => w.synced, 'synced without CRD');
    assert.equal(w.lastError, undefined);
    assert.deepEqual(Object.fromEntries(w.objectives), { gold: 4 });
    api.put(OBJECTIVES('ns'), objective('silver', 2, 'pool'));
    await until(() => w.objectives.get('silver') === 2, 'CRD found later');
    assert.deepEqual(Object.fromEntries(w.objectives), { gold: 4, silver: 2 });
  } finally {
    await w.stop();
    await api.close();
  }
});

test('llm-d.ai InferenceObjectives are used when the GIE group is absent; a 403 is reported', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  const LLMD = '/apis/llm-d.ai/v1alpha2/namespaces/ns/inferenceobjectives';
  api.put(LLMD, { ...objective('fast', 1, 'pool'), apiVersion: 'llm-d.ai/v1alpha2' });
  const w = watcher(api);
  w.start();
  try {
    await until(() => w.objectives.get('fast') === 1, 'llm-d.ai objective');
    assert.equal(w.apiVersion, 'llm-d.ai/v1alpha2');
  } finally {
    await w.stop();
  }
  api.fail(/inferenceobjectives$/, 403, 'inferenceobjectives.llm-d.ai is forbidden');
  const denied = watcher(api);
  denied.start();
  try {
    await until(() => denied.lastError !== undefined, '403');
    assert.match(denied.lastError!, /list inferenceobjectives in ns: 403 Forbidden: inferenceobjectives\.llm-d\.ai is forbidden — the service account needs "list" on inferenceobjectives/);
    assert.equal(denied.synced, false);
  } finally {
    await denied.stop();
    await api.close();
  }
});

test('listing InferenceObjectives forbidden: warned once with the RBAC rule, retried with backoff, recovery said once', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(OBJECTIVES('ns'), objective('gold', 3, 'pool'));
  api.fail(/inferenceobjectives$/, 403, 'inferenceobjectives.inference.networking.x-k8s.io is forbidden');
  const { logger, lines } = capturingLogger('debug');
  const w = watcher(api, undefined, { logger });
  w.start();
  try {
    await until(() => api.requests.filter((r) => /inferenceobjectives$/.test(r.path)).length >= 5, 'several retries');
    const failures = lines.filter((l) => l.what === 'list inferenceobjectives in ns' && typeof l.retryMs === 'number');
    const warned = failures.filter((l) => l.level === 40);
    assert.equal(warned.length, 1, `one warning for ${failures.length} failed attempts`);
    assert.match(warned[0].err!, /^list inferenceobjectives in ns: 403 Forbidden: inferenceobjectives\.inference\.networking\.x-k8s\.io is forbidden — the service account needs "list" on inferenceobjectives \(API group "inference\.networking\.x-k8s\.io"\) in namespace ns: apply the Role `kvgate render` writes/);
    const delays = failures.map((l) => l.retryMs as number);
    assert.ok(delays.at(-1)! > delays[0] * 2, `retries back off: ${delays.join(', ')} ms`);
    assert.equal(w.synced, false);
    api.clearFailures();
    await until(() => w.objectives.get('gold') === 3, 'allowed again');
    assert.equal(w.lastError, undefined);
    assert.equal(lines.filter((l) => l.msg === 'kubernetes: request succeeded again' && l.what === 'list inferenceobjectives in ns').length, 1);
  } finally {
    await w.stop();
    await api.close();
  }
});

test('an InferenceObjective list the API server never answers times out naming the API server URL', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.hang(/inferenceobjectives$/);
  const w = watcher(api, undefined, { listTimeoutMs: 100 });
  w.start();
  try {
    await until(() => w.lastError !== undefined, 'timed out');
    assert.equal(w.lastError, `list inferenceobjectives in ns: no answer from the API server ${api.url} in 100 ms`);
    api.clearFailures();
    await until(() => w.synced, 'no CRD: synced');
    assert.equal(w.lastError, undefined);
  } finally {
    await w.stop();
    await api.close();
  }
});

/** `kvgate_inference_objective_invalid_total` per reason, as /metrics shows it. */
async function invalidCounts(registry: Registry): Promise<Record<string, number>> {
  const m = (await registry.getSingleMetric('kvgate_inference_objective_invalid_total')!.get()).values;
  return Object.fromEntries(m.map((v) => [String(v.labels.reason), v.value]));
}

test('invalid InferenceObjectives are left out of the map, warned and counted once per version by reason; fixing one brings it in', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(OBJECTIVES('ns'), objective('good', 4, 'pool'));
  api.put(OBJECTIVES('ns'), { ...objective('words', undefined, 'pool'), spec: { priority: 'high', poolRef: { name: 'pool' } } });
  api.put(OBJECTIVES('ns'), { ...objective('orphan', 2, 'pool'), spec: { priority: 2 } });
  api.put(OBJECTIVES('ns'), { ...objective('service', 2, 'pool'), spec: { priority: 2, poolRef: { name: 'pool', kind: 'Service' } } });
  api.put(OBJECTIVES('ns'), { ...objective('theirs', undefined, 'other-pool'), spec: { priority: 1.5, poolRef: { name: 'other-pool' } } });
  const { logger, lines } = capturingLogger('debug');
  const w = watcher(api, undefined, { logger, resyncMs: 50 });
  const registry = new Registry();
  w.registerMetrics(registry);
  assert.deepEqual(await invalidCounts(registry), { missing_pool_ref: 0, invalid_pool_kind: 0, invalid_priority: 0 }, 'every reason from 0');
  w.start();
  try {
    await until(() => w.synced && w.objectives.has('good'), 'listed');
    assert.deepEqual(Object.fromEntries(w.objectives), { good: 4 });
    assert.equal(priorityOf(w.objectives, 'words'), 0, 'an invalid objective is as unknown: the default priority');
    // Resyncs re-apply the same versions: no recount, no new warning.
    const lists = api.lists(OBJECTIVES('ns'));
    await until(() => api.lists(OBJECTIVES('ns')) >= lists + 2, 'two resyncs');
    assert.deepEqual(await invalidCounts(registry), { missing_pool_ref: 1, invalid_pool_kind: 1, invalid_priority: 1 }, "another pool's bad priority is not ours to count");
    const warned = lines.filter((l) => l.msg.startsWith('InferenceObjective cannot be used'));
    assert.deepEqual(warned.map((l) => `${l.objective} ${l.reason}`).sort(), ['ns/orphan missing_pool_ref', 'ns/service invalid_pool_kind', 'ns/words invalid_priority']);
    // A new invalid version counts again; a fix brings the objective into the map.
    api.put(OBJECTIVES('ns'), { ...objective('words', undefined, 'pool'), spec: { priority: 2 ** 31, poolRef: { name: 'pool' } } });
    await until(() => lines.filter((l) => l.msg.startsWith('InferenceObjective cannot be used')).length === 4, 'edit warned');
    assert.equal((await invalidCounts(registry)).invalid_priority, 2);
    api.put(OBJECTIVES('ns'), objective('words', 7, 'pool'));
    await until(() => w.objectives.get('words') === 7, 'fixed');
    assert.equal((await invalidCounts(registry)).invalid_priority, 2);
  } finally {
    await w.stop();
    await api.close();
  }
});
