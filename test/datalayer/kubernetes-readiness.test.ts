import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { findKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import { loadConfig } from '../../src/router/index.js';
import { EnvoyLikeClient, healthAnswer, routeCompletion } from '../extproc/client.js';
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

/** /ready's body, the pool-validity series of /metrics, and where a request would be routed. */
async function observed(epp: RunningEpp, client: EnvoyLikeClient) {
  const ready = (await (await fetch(`http://127.0.0.1:${epp.metricsPort}/ready`)).json()) as { ready: boolean; error?: string };
  const metrics = await (await fetch(`http://127.0.0.1:${epp.metricsPort}/metrics`)).text();
  const series = (name: string) => Number(new RegExp(`^${name}\\{name="pool"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  return {
    ready: ready.ready,
    error: ready.error,
    health: await healthAnswer(epp.grpcHealthPort, 'inference-extension'),
    valid: series('kvgate_inference_pool_spec_valid'),
    invalidEdits: series('kvgate_inference_pool_invalid_spec_total'),
    routedTo: await routeCompletion(client, 'm', `prompt ${Math.random()}`),
  };
}

type Observed = Awaited<ReturnType<typeof observed>>;

/** Observes until `done` holds (/ready is read before /metrics, so wait for both to show a change) (or 15 s pass; the caller's assertions then say what differs). */
async function observeUntil(epp: RunningEpp, client: EnvoyLikeClient, done: (o: Observed) => boolean): Promise<Observed> {
  let seen = await observed(epp, client);
  for (const deadline = Date.now() + 15_000; !done(seen) && Date.now() < deadline; seen = await observed(epp, client)) await new Promise((r) => setTimeout(r, 20));
  return seen;
}

test('an invalid InferencePool edit: the last valid spec stays in force — readiness, routing and metrics agree; a fix applies', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.3.0.1' }));
  const epp = await startEpp(api);
  const client = new EnvoyLikeClient(epp.grpcPort);
  const ids = () => epp.router.datastore.list().map((e) => e.info.id).sort().join();
  try {
    await until(() => ids() === '10.3.0.1:8000', 'first pod discovered');
    assert.deepEqual(await observed(epp, client), { ready: true, error: undefined, health: SERVING, valid: 1, invalidEdits: 0, routedTo: '10.3.0.1:8000' });

    // An empty selector (the CRD requires 1..64 labels) would match every Pod of the namespace.
    api.put(POOLS_V1('ns'), poolV1('pool', {}, [8000]));
    let seen = await observeUntil(epp, client, (o) => o.valid === 0 && o.error !== undefined);
    assert.deepEqual(seen, {
      ready: true,
      error: 'InferencePool ns/pool is invalid: inference.networking.k8s.io/v1: spec.selector.matchLabels must be a non-empty map of strings; the last valid spec stays in force',
      health: SERVING,
      valid: 0,
      invalidEdits: 1,
      routedTo: '10.3.0.1:8000',
    });
    // The last valid selector's Pods are still followed, not frozen.
    api.put(PODS('ns'), pod('b', { ip: '10.3.0.2' }));
    await until(() => ids() === '10.3.0.1:8000,10.3.0.2:8000', 'a new pod under the last valid selector');
    // Another invalid version counts again; relists of the same one do not.
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, []));
    seen = await observeUntil(epp, client, (o) => o.invalidEdits === 2 && /targetPorts/.test(o.error ?? ''));
    assert.equal(seen.invalidEdits, 2);
    assert.match(seen.error!, /spec\.targetPorts must list 1 to 8 ports; the last valid spec stays in force$/);
    assert.equal(seen.ready, true);

    // The fix applies: new ports, the error and the 0 gone.
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8001]));
    await until(() => ids() === '10.3.0.1:8001,10.3.0.2:8001', 'fixed spec in force');
    seen = await observed(epp, client);
    assert.deepEqual({ ...seen, routedTo: seen.routedTo.endsWith(':8001') }, { ready: true, error: undefined, health: SERVING, valid: 1, invalidEdits: 2, routedTo: true });
  } finally {
    client.close();
    await epp.close();
    await api.close();
  }
});

test('an InferencePool invalid from its first version: not ready, no endpoints, requests refused with 503, the gauge 0', async () => {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(POOLS_V1('ns'), { ...poolV1('pool', { app: 'qwen' }, [8000]), spec: { selector: { matchLabels: { app: 'qwen' } }, targetPorts: [{ number: 70000 }] } });
  api.put(PODS('ns'), pod('a', { ip: '10.3.0.1' }));
  const epp = await startEpp(api);
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    const seen = await observeUntil(epp, client, (o) => o.invalidEdits === 1 && o.error !== undefined);
    assert.deepEqual(seen, {
      ready: false,
      error: 'InferencePool ns/pool is invalid: inference.networking.k8s.io/v1: spec.targetPorts[0].number must be a port number (1-65535)',
      health: NOT_SERVING,
      valid: 0,
      invalidEdits: 1,
      routedTo: 'immediate 503',
    });
    assert.equal(epp.router.datastore.list().length, 0);
  } finally {
    client.close();
    await epp.close();
    await api.close();
  }
});
