// `kvgate serve --pool-name` (the gateway process, not the EPP) over the fake Kubernetes API: an
// invalid InferencePool edit keeps the last valid spec in force, and the gateway's own /ready,
// /metrics and routing say so — as kubernetes-readiness.test.ts checks for the EPP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startSimFleet } from '../../src/sim/fleet.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { stop } from '../faults/processes.js';
import { MODEL, post, waitFor } from '../gateway/helpers.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1 } from './kubernetes-fake-api.js';

/** The environment without variables that would point the gateway elsewhere (a developer's cluster, keys). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'NAMESPACE', 'KVGATE_API_KEYS', 'KVGATE_API_KEY', 'KVGATE_UPSTREAM_API_KEY']) delete env[k];
  return env;
}

/** What the gateway says about the pool: /ready's body, the two validity series, and where a completion is served. */
async function observed(url: string) {
  const ready = (await (await fetch(`${url}/ready`)).json()) as { ready: boolean; error?: string };
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  const r = await post(`${url}/v1/completions`, { model: MODEL, prompt: `prompt ${Math.random()}`, max_tokens: 2 });
  return {
    ready: ready.ready,
    error: ready.error,
    valid: sampleValue(samples, 'kvgate_inference_pool_spec_valid', { name: 'pool' }),
    invalidEdits: sampleValue(samples, 'kvgate_inference_pool_invalid_spec_total', { name: 'pool' }),
    status: r.status,
    servedBy: r.headers.get('x-gateway-destination-endpoint-served'),
  };
}

test('kvgate serve --pool-name: an invalid InferencePool edit shows on the gateway’s /metrics (gauge 0, counter +1) and /ready, routing stays on the last valid spec, a fix applies', async () => {
  // Two replicas on one Pod IP: the pool's target port decides which one a request reaches.
  const fleet = await startSimFleet({ replicas: 2, basePort: 0, profile: 'instant' });
  const [portA, portB] = fleet.replicas.map((r) => Number(new URL(r.url).port));
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [portA]));
  api.put(PODS('ns'), pod('a', { ip: '127.0.0.1' }));
  let gw: ChildProcess | undefined;
  try {
    gw = spawnKvgate(['serve', '--port', '0', '--pool-name', 'pool', '--pool-namespace', 'ns', '--kubeconfig', api.kubeconfig({ token: 't' }), '--health-interval', '50ms'], { env: cleanEnv() });
    const url = /http:\/\/\S+/.exec(await waitForOutput(gw, /kvgate serve listening on http:\/\/\S+/))![0];
    let seen = await observed(url);
    // /ready is read first: it turns 200 once the pool is listed and a replica passed its health probe.
    await waitFor(async () => (seen = await observed(url)).status === 200 && seen.ready);
    assert.deepEqual(seen, { ready: true, error: undefined, valid: 1, invalidEdits: 0, status: 200, servedBy: `127.0.0.1:${portA}` });

    // Names replica B's port, and a port no Pod can listen on: the CRD schema would refuse it, so
    // none of it applies (not even the valid port).
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [portB, 70000]));
    await waitFor(async () => (seen = await observed(url)).valid === 0 && seen.error !== undefined);
    assert.deepEqual(seen, {
      ready: true,
      error: 'InferencePool ns/pool is invalid: inference.networking.k8s.io/v1: spec.targetPorts[1].number must be a port number (1-65535); the last valid spec stays in force',
      valid: 0,
      invalidEdits: 1,
      status: 200,
      servedBy: `127.0.0.1:${portA}`,
    });
    for (let i = 0; i < 5; i++) {
      const again = await observed(url);
      assert.deepEqual([again.status, again.servedBy, again.valid, again.invalidEdits, again.ready], [200, `127.0.0.1:${portA}`, 0, 1, true], 'routed on the last valid spec while the invalid one stands');
    }
    const readyStatus = (await fetch(`${url}/ready`)).status;
    assert.equal(readyStatus, 200, '/ready stays 200');

    // The fix applies: replica B's port, the gauge back to 1, the count of rejected versions kept.
    api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [portB]));
    await waitFor(async () => (seen = await observed(url)).servedBy === `127.0.0.1:${portB}` && seen.valid === 1 && seen.error === undefined && seen.ready);
    assert.deepEqual(seen, { ready: true, error: undefined, valid: 1, invalidEdits: 1, status: 200, servedBy: `127.0.0.1:${portB}` });
  } finally {
    if (gw) await stop(gw);
    await api.close();
    await fleet.close();
  }
});
