import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1, until } from './kubernetes-fake-api.js';

const TOKEN = 'missing-pool-token';

test('a --pool-name that names no InferencePool is logged once as a warning naming the pool, and /ready says why it is not ready', async () => {
  const api = await FakeKubeApi.start({ tokens: [TOKEN] });
  api.addCollection(POOLS_V1('ns'));
  api.addCollection(PODS('ns'));
  const { logger, lines } = capturingLogger();
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig(), kubernetes: { poolName: 'qwen-typo', namespace: 'ns', kubeconfig: api.kubeconfig({ token: TOKEN }) }, healthIntervalMs: 0, metricsIntervalMs: 3_600_000, logger });
  try {
    await until(() => api.lists(POOLS_V1('ns')) >= 1 && lines.some((l) => /not found/.test(l.err ?? l.msg)), 'pool looked up and reported');
    const warnings = lines.filter((l) => l.level === 40 && /InferencePool not found/.test(l.msg));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].err!, /^InferencePool ns\/qwen-typo not found \(looked in inference\.networking\.k8s\.io\/v1 and inference\.networking\.x-k8s\.io\/v1alpha2\)$/);
    const ready = await request(`http://127.0.0.1:${epp.metricsPort}/ready`);
    assert.equal(ready.statusCode, 503);
    const body = (await ready.body.json()) as { ready: boolean; error?: string };
    assert.equal(body.ready, false);
    assert.match(body.error ?? '', /InferencePool ns\/qwen-typo not found/);
    // Once the pool is created the error is gone from /ready.
    api.put(POOLS_V1('ns'), poolV1('qwen-typo', { app: 'qwen' }, [8000]));
    api.put(PODS('ns'), pod('a', { ip: '10.0.0.1', labels: { app: 'qwen' } }));
    await until(() => epp.router.datastore.list().length === 1, 'pool found');
    const after = (await (await request(`http://127.0.0.1:${epp.metricsPort}/ready`)).body.json()) as { ready: boolean; error?: string };
    assert.deepEqual([after.ready, after.error], [true, undefined]);
  } finally {
    await epp.close();
    await api.close();
  }
});
