import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { findKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import { loadConfig } from '../../src/router/index.js';
import { healthAnswer } from '../extproc/client.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1, until } from './kubernetes-fake-api.js';

// The EPP's readiness over a Kubernetes pool, as kubelet probes and Envoy's health checks see it.

const SERVING = 1;
const NOT_SERVING = 2;
const READINESS_NAMES = ['', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor', 'inference-extension'];

async function startEpp(api: FakeKubeApi): Promise<RunningEpp> {
  const config = findKubeConfig({ kubeconfig: api.kubeconfig({ token: 't' }), env: {} })!;
  return startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', secureServing: false, config: loadConfig(), healthIntervalMs: 0, kubernetes: { poolName: 'pool', namespace: 'ns', config, backoffMs: 20 } });
}

async function readyStatus(epp: RunningEpp): Promise<number> {
  return (await fetch(`http://127.0.0.1:${epp.metricsPort}/ready`)).status;
}

async function healthOf(epp: RunningEpp): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  for (const svc of [...READINESS_NAMES, 'liveness', 'nope']) out[svc] = await healthAnswer(epp.grpcHealthPort, svc);
  return out;
}

test("gRPC health: 'inference-extension' (the GIE probes' name), '', readiness and ext_proc follow /ready; liveness always; unknown names NOT_FOUND", async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.addCollection(POOLS_V1('ns'));
  api.addCollection(PODS('ns'));
  const epp = await startEpp(api);
  try {
    await until(() => api.lists(POOLS_V1('ns')) > 0, 'pool looked for');
    assert.equal(await readyStatus(epp), 503);
    const notReady = Object.fromEntries(READINESS_NAMES.map((n) => [n, NOT_SERVING]));
    assert.deepEqual(await healthOf(epp), { ...notReady, liveness: SERVING, nope: 'grpc:5' });
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
    api.put(PODS('ns'), pod('a', { ip: '10.3.0.1' }));
    await until(() => epp.router.datastore.list().length === 1, 'pod discovered');
    assert.equal(await readyStatus(epp), 200);
    const ready = Object.fromEntries(READINESS_NAMES.map((n) => [n, SERVING]));
    assert.deepEqual(await healthOf(epp), { ...ready, liveness: SERVING, nope: 'grpc:5' });
  } finally {
    await epp.close();
    await api.close();
  }
});

test('editing the pool selector keeps the EPP ready and the old endpoints until the new Pods are listed', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.3.0.1' }));
  api.put(PODS('ns'), pod('b', { ip: '10.3.0.2', labels: { app: 'llama' } }));
  const epp = await startEpp(api);
  const ids = () => epp.router.datastore.list().map((e) => e.info.id);
  try {
    await until(() => ids().join() === '10.3.0.1:8000', 'first pod discovered');
    assert.equal(await readyStatus(epp), 200);
    // The new selector's Pod list fails (a slow or restarting API server): the window in which the
    // new endpoint set is being computed stays open for as long as the test needs.
    api.fail(/\/pods$/, 500, 'etcdserver: request timed out', Infinity, { watch: false });
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'llama' }, [8000]));
    await until(() => api.requests.some((r) => r.path === PODS('ns') && !r.watch && r.query.labelSelector === 'app=llama' && r.auth !== 'rejected'), 'new selector listed (and failing)');
    await until(() => api.requests.filter((r) => r.query.labelSelector === 'app=llama').length >= 2, 'a retry of the failing list');
    assert.equal(await readyStatus(epp), 200, '/ready stays 200 across the selector edit');
    for (const svc of READINESS_NAMES) assert.equal(await healthAnswer(epp.grpcHealthPort, svc), SERVING, `gRPC health "${svc}" stays SERVING`);
    assert.deepEqual(ids(), ['10.3.0.1:8000'], 'the old endpoint set is kept until the new one is known');
    api.clearFailures();
    await until(() => ids().join() === '10.3.0.2:8000', 'the new selector’s pod');
    assert.equal(await readyStatus(epp), 200);
    assert.equal(await healthAnswer(epp.grpcHealthPort, 'inference-extension'), SERVING);
  } finally {
    await epp.close();
    await api.close();
  }
});
