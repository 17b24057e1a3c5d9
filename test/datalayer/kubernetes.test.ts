import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesEndpointSource } from '../../src/datalayer/sources/kubernetes-source.js';
import { findKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import type { EndpointInfo } from '../../src/router/api.js';
import { silentLogger } from '../../src/shared/logger.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { FakeKubeApi, PODS, POOLS_V1, POOLS_V1ALPHA2, pod, poolV1, poolV1alpha2, until } from './kubernetes-fake-api.js';

const TOKEN = 'test-token';

async function startSource(api: FakeKubeApi, extra: Partial<ConstructorParameters<typeof KubernetesEndpointSource>[0]> = {}) {
  const config = findKubeConfig({ kubeconfig: api.kubeconfig({ token: TOKEN }), env: {} })!;
  const seen: EndpointInfo[][] = [];
  const src = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config, logger: silentLogger(), backoffMs: 20, ...extra });
  src.start((e) => seen.push(e));
  return { src, seen, last: () => seen.at(-1)?.map((e) => e.id) ?? [] };
}

test('InferencePool v1: Ready pods × every targetPort; not-ready, IP-less and terminating pods are left out; pod metadata lands in labels', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000, 8001]));
  api.put(PODS('ns'), pod('a', { ip: '10.1.0.1', labels: { app: 'qwen', 'llm-d.ai/role': 'decode' }, annotations: { 'kvgate.io/kv-events-port': '5557' } }));
  api.put(PODS('ns'), pod('b', { ip: '10.1.0.2', ready: false }));
  api.put(PODS('ns'), pod('c', { ip: undefined }));
  api.put(PODS('ns'), pod('d', { ip: '10.1.0.4', deleting: true }));
  api.put(PODS('ns'), pod('other', { ip: '10.1.0.9', labels: { app: 'llama' } }));
  const { src, seen, last } = await startSource(api);
  try {
    await until(() => src.synced && seen.length > 0, 'first endpoint set');
    assert.deepEqual(last(), ['10.1.0.1:8000', '10.1.0.1:8001']);
    const e = seen.at(-1)!;
    assert.deepEqual(
      { ...e[1].labels },
      { app: 'qwen', 'llm-d.ai/role': 'decode', 'kvgate.io/pod-name': 'a', 'kvgate.io/pod-namespace': 'ns', 'kvgate.io/kv-events-port': '5557', 'kvgate.io/rank': '1' },
    );
    assert.equal(e[0].url, 'http://10.1.0.1:8000');
    assert.equal(src.poolSpec?.apiVersion, 'inference.networking.k8s.io/v1');
    // The pod list used the pool's selector and the token from the kubeconfig.
    const podLists = api.requests.filter((r) => r.path === PODS('ns') && !r.watch);
    assert.equal(podLists[0].query.labelSelector, 'app=qwen');
    assert.equal(podLists[0].auth, `token:${TOKEN}`);
    await until(() => api.openWatches(PODS('ns')) === 1, 'pod watch open');
    const w = api.watches(PODS('ns'))[0];
    assert.equal(w.query.allowWatchBookmarks, 'true');
    assert.equal(w.query.labelSelector, 'app=qwen');
    assert.ok(Number(w.query.timeoutSeconds) > 0);

    api.put(PODS('ns'), pod('b', { ip: '10.1.0.2' })); // becomes Ready
    await until(() => last().length === 4, 'b ready');
    api.put(PODS('ns'), pod('a', { ip: '10.1.0.1', deleting: true })); // terminating: drained
    await until(() => last().join() === '10.1.0.2:8000,10.1.0.2:8001', 'a terminating');
    api.delete(PODS('ns'), 'a');
    api.put(PODS('ns'), pod('b', { ip: '10.1.0.2', labels: { app: 'elsewhere' } })); // leaves the selector: DELETED on the watch
    await until(() => last().length === 0, 'b left the selector');
    assert.equal(api.lists(PODS('ns')), 1, 'all of that arrived on the watch, without relisting');
  } finally {
    await src.stop();
    await api.close();
  }
});

test('watch resume: a dropped watch continues from the last resourceVersion (a bookmark\'s too) without relisting', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.2.0.1' }));
  const { src, last } = await startSource(api);
  try {
    await until(() => src.synced && api.openWatches(PODS('ns')) === 1, 'watching');
    const firstRv = api.watches(PODS('ns'))[0].query.resourceVersion;
    assert.equal(firstRv, String(api.rv), "the watch starts at the list's resourceVersion");
    api.put(PODS('ns'), pod('b', { ip: '10.2.0.2' }));
    await until(() => last().length === 2, 'b added');
    const afterB = String(api.rv);
    api.dropWatches();
    await until(() => api.watches(PODS('ns')).length === 2 && api.openWatches(PODS('ns')) === 1, 'second watch');
    assert.equal(api.watches(PODS('ns'))[1].query.resourceVersion, afterB);
    // Other objects move the resourceVersion on; a bookmark tells the client so.
    api.bumpUnrelated(50);
    api.bookmark();
    await until(() => src['podInformer']?.resourceVersion === String(api.rv), 'bookmark seen');
    api.dropWatches();
    await until(() => api.watches(PODS('ns')).length === 3, 'third watch');
    assert.equal(api.watches(PODS('ns'))[2].query.resourceVersion, String(api.rv), 'resumed from the bookmark');
    assert.equal(api.lists(PODS('ns')), 1);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('410 Gone: a compacted resourceVersion relists, and pods deleted while disconnected disappear', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.3.0.1' }));
  api.put(PODS('ns'), pod('b', { ip: '10.3.0.2' }));
  const { src, last } = await startSource(api);
  try {
    await until(() => src.synced && api.openWatches(PODS('ns')) === 1 && last().length === 2, 'watching two pods');
    // Disconnected: the watch is dropped and, before it reconnects, history is compacted.
    api.fail(/\/pods$/, 500, 'etcd unavailable', Infinity, { watch: true });
    api.dropWatches();
    await until(() => api.watches(PODS('ns')).length >= 2, 'failed reconnect');
    api.delete(PODS('ns'), 'a');
    api.put(PODS('ns'), pod('c', { ip: '10.3.0.3' }));
    api.compact();
    api.clearFailures();
    await until(() => api.lists(PODS('ns')) === 2, 'relist after 410');
    await until(() => last().join() === '10.3.0.2:8000,10.3.0.3:8000', 'relisted set');
    await until(() => api.openWatches(PODS('ns')) === 1, 'watching again');
    const w = api.watches(PODS('ns')).at(-1)!;
    assert.equal(w.query.resourceVersion, String(api.rv), 'the new watch starts at the relist');
    assert.equal(src.lastError, undefined);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('resync: the pod list is refreshed every resyncMs even when the watch is healthy', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.4.0.1' }));
  const { src } = await startSource(api, { resyncMs: 300 });
  try {
    await until(() => api.lists(PODS('ns')) >= 3, 'two resyncs');
    assert.ok(src.synced);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('the pool itself is watched: new targetPorts re-derive endpoints, a new selector re-watches pods, deletion empties the set', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.5.0.1' }));
  api.put(PODS('ns'), pod('z', { ip: '10.5.0.9', labels: { app: 'qwen', tier: 'gold' } }));
  const { src, last } = await startSource(api);
  try {
    await until(() => last().length === 2, 'two pods');
    const poolWatch = () => api.watches(POOLS_V1('ns'));
    await until(() => poolWatch().length === 1, 'pool watched');
    assert.equal(poolWatch()[0].query.fieldSelector, 'metadata.name=pool');
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000, 8002]));
    await until(() => last().length === 4, 'second target port');
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen', tier: 'gold' }, [8000, 8002]));
    await until(() => last().join() === '10.5.0.9:8000,10.5.0.9:8002', 'narrower selector');
    assert.equal(api.requests.filter((r) => r.path === PODS('ns') && !r.watch).at(-1)!.query.labelSelector, 'app=qwen,tier=gold');
    api.delete(POOLS_V1('ns'), 'pool');
    await until(() => last().length === 0 && !src.synced, 'pool deleted');
    assert.match(src.lastError!, /InferencePool ns\/pool not found/);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('InferencePool v1alpha2 is found when v1 has no such pool (selector map, targetPortNumber)', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.addCollection(POOLS_V1('ns'));
  api.put(POOLS_V1ALPHA2('ns'), poolV1alpha2('pool', { app: 'qwen' }, 8000));
  api.put(PODS('ns'), pod('a', { ip: '10.6.0.1' }));
  const { src, last } = await startSource(api);
  try {
    await until(() => src.synced && last().length === 1, 'alpha pool');
    assert.deepEqual(last(), ['10.6.0.1:8000']);
    assert.equal(src.poolSpec?.apiVersion, 'inference.networking.x-k8s.io/v1alpha2');
    await until(() => api.watches(POOLS_V1ALPHA2('ns')).length === 1, 'alpha pool watched');
  } finally {
    await src.stop();
    await api.close();
  }
});

test('missing RBAC: not synced, the error names verb, resource, namespace and the Role to apply, warned once; granting it later recovers without a restart', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.7.0.1' }));
  api.fail(/\/pods$/, 403, 'pods is forbidden: User "system:serviceaccount:ns:pool-epp" cannot list resource "pods" in API group "" in the namespace "ns"');
  const { logger, lines } = capturingLogger('debug');
  const { src, seen } = await startSource(api, { logger });
  try {
    await until(() => api.lists(PODS('ns')) >= 5, 'several retries of the pod list');
    assert.equal(src.synced, false);
    assert.match(src.lastError!, /^list pods app=qwen in ns: 403 Forbidden: pods is forbidden: User "system:serviceaccount:ns:pool-epp" cannot list/);
    assert.match(src.lastError!, / — the service account needs "list" on pods \(API group ""\) in namespace ns: apply the Role `kvgate render` writes to epp-rbac\.yaml/);
    const failures = lines.filter((l) => l.what === 'pods app=qwen in ns' && typeof l.retryMs === 'number');
    const warned = failures.filter((l) => l.level === 40);
    assert.equal(warned.length, 1, 'the same 403 is warned once, not at every retry');
    assert.match(warned[0].err!, /needs "list" on pods/, 'the warning carries the RBAC hint');
    const delays = failures.map((l) => l.retryMs as number);
    assert.ok(delays.length >= 4 && delays.at(-1)! > delays[0], `retries back off: ${delays.join(', ')} ms`);
    assert.equal(seen.length, 0);
    api.clearFailures();
    await until(() => src.synced && seen.length === 1, 'recovered');
    assert.deepEqual(seen[0].map((e) => e.id), ['10.7.0.1:8000']);
    assert.equal(src.lastError, undefined);
    assert.equal(lines.filter((l) => l.msg === 'kubernetes: request succeeded again' && l.what === 'pods app=qwen in ns').length, 1);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('a watch error clears from lastError as soon as a watch is open again (no sticky error until that watch ends)', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.8.0.1' }));
  const { src, last } = await startSource(api);
  try {
    await until(() => src.synced && api.openWatches(PODS('ns')) === 1, 'watching');
    const before = api.watches(PODS('ns')).length;
    api.fail(/\/pods$/, 500, 'etcdserver: leader changed', 2, { watch: true });
    api.dropWatches();
    // Two failed watches (lastError set), then one that the server keeps open.
    await until(() => api.watches(PODS('ns')).length === before + 3 && api.openWatches(PODS('ns')) === 1, 'watch reopened after two failures');
    api.put(PODS('ns'), pod('b', { ip: '10.8.0.2' }));
    await until(() => last().length === 2, 'event through the reopened watch');
    assert.equal(src.lastError, undefined, 'the open watch cleared the error');
    assert.equal(api.lists(PODS('ns')), 1, 'resumed by watch, without relisting');
  } finally {
    await src.stop();
    await api.close();
  }
});

test('a list the API server never answers times out with an error naming the API server URL', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.6.0.1' }));
  api.hang(/inferencepools$/);
  const { src, last } = await startSource(api, { listTimeoutMs: 100 });
  try {
    await until(() => src.lastError !== undefined, 'list timed out');
    assert.equal(src.lastError, `list InferencePool ns/pool: no answer from the API server ${api.url} in 100 ms`);
    assert.equal(src.synced, false);
    api.clearFailures();
    await until(() => src.synced && last().length === 1, 'answered again');
    assert.equal(src.lastError, undefined);
  } finally {
    await src.stop();
    await api.close();
  }
});

test('no InferencePool CRD, or no such pool: not synced with a sentence saying which', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  const { src } = await startSource(api);
  try {
    await until(() => src.lastError !== undefined, 'error');
    assert.match(src.lastError!, /no InferencePool CRD is installed/);
    api.addCollection(POOLS_V1('ns'));
    await until(() => /not found/.test(src.lastError ?? ''), 'pool missing');
    assert.match(src.lastError!, /InferencePool ns\/pool not found/);
    assert.equal(src.synced, false);
  } finally {
    await src.stop();
    await api.close();
  }
});
