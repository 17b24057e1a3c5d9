import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubernetesEndpointSource } from '../../src/datalayer/sources/kubernetes-source.js';
import { findKubeConfig, type LoadedKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import type { EndpointInfo } from '../../src/router/api.js';
import { silentLogger } from '../../src/shared/logger.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1, until } from './kubernetes-fake-api.js';

// The in-cluster path as a pod runs it: the service-account directory the kubelet mounts.

let api: FakeKubeApi;
before(async () => {
  api = await FakeKubeApi.start({ tokens: ['tok-1'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.9.0.1' }));
});
after(() => api.close());

function startSource(config: LoadedKubeConfig) {
  const seen: EndpointInfo[][] = [];
  const src = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config, logger: silentLogger(), backoffMs: 20 });
  src.start((e) => seen.push(e));
  return { src, seen };
}

test('a service-account token file ending in a newline is trimmed, not sent as an illegal header', async () => {
  api.setTokens(['tok-1']);
  const sa = api.serviceAccount('tok-1\n', 'ns');
  const from = api.requests.length;
  const { src, seen } = startSource(findKubeConfig({ env: sa.env })!);
  try {
    await until(() => (src.synced && seen.length > 0) || src.lastError !== undefined, 'synced or failed');
    assert.equal(src.lastError, undefined);
    assert.deepEqual(seen.at(-1)!.map((e) => e.id), ['10.9.0.1:8000']);
    assert.deepEqual([...new Set(api.requests.slice(from).map((r) => r.auth))], ['token:tok-1']);
  } finally {
    await src.stop();
  }
});

test('a rotated token (the kubelet rewrote the file) is used by the very next request', async () => {
  api.setTokens(['tok-1']);
  const sa = api.serviceAccount('tok-1', 'ns');
  const { src, seen } = startSource(findKubeConfig({ env: sa.env })!);
  try {
    await until(() => src.synced && seen.length > 0 && api.openWatches(PODS('ns')) === 1, 'watching');
    writeFileSync(join(sa.root, 'var/run/secrets/kubernetes.io/serviceaccount/token'), 'tok-2\n');
    api.setTokens(['tok-2']); // the old token is no longer accepted
    const from = api.requests.length;
    api.dropWatches();
    await until(() => api.requests.slice(from).some((r) => r.path === PODS('ns') && r.watch), 'pod watch resumed');
    const after = api.requests.slice(from);
    assert.deepEqual([...new Set(after.map((r) => r.auth))], ['token:tok-2'], 'no request after the rewrite carried the old token');
    assert.equal(src.lastError, undefined);
  } finally {
    await src.stop();
  }
});

test('a missing token file fails the request with a message naming the file', async () => {
  const sa = api.serviceAccount('tok-1', 'ns');
  const cfg = findKubeConfig({ env: sa.env })!;
  const { rmSync } = await import('node:fs');
  rmSync(join(sa.root, 'var/run/secrets/kubernetes.io/serviceaccount/token'));
  const { src } = startSource(cfg);
  try {
    await until(() => src.lastError !== undefined, 'error');
    assert.match(src.lastError!, /^list InferencePool ns\/pool: cannot read the service-account token .*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token: ENOENT/);
  } finally {
    await src.stop();
  }
});

test('an IPv6 KUBERNETES_SERVICE_HOST gives a bracketed API server URL (guard: client-node 1.4 brackets it)', () => {
  const sa = api.serviceAccount('tok-1', 'ns');
  for (const [host, port, url] of [
    ['fd00::1', '443', 'https://[fd00::1]:443'],
    ['2001:db8::10', '6443', 'https://[2001:db8::10]:6443'],
    ['10.96.0.1', '443', 'https://10.96.0.1:443'],
  ]) {
    const cfg = findKubeConfig({ env: { ...sa.env, KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } })!;
    assert.equal(cfg.server, url, host);
    assert.equal(new URL(cfg.server).hostname, host.includes(':') ? `[${host}]` : host);
  }
});

test("a kubeconfig user's token-file is read per request and trimmed too", async () => {
  api.setTokens(['tok-1']);
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'kvgate-tokfile-')), 'token');
  writeFileSync(tokenFile, 'tok-1\n');
  const { src, seen } = startSource(findKubeConfig({ kubeconfig: api.kubeconfig({ tokenFile }), env: {} })!);
  try {
    await until(() => (src.synced && seen.length > 0 && api.openWatches(PODS('ns')) === 1) || src.lastError !== undefined, 'watching or failed');
    assert.equal(src.lastError, undefined);
    writeFileSync(tokenFile, 'tok-2\n');
    api.setTokens(['tok-2']);
    const from = api.requests.length;
    api.dropWatches();
    await until(() => api.requests.slice(from).some((r) => r.path === PODS('ns') && r.watch), 'pod watch resumed');
    assert.deepEqual([...new Set(api.requests.slice(from).map((r) => r.auth))], ['token:tok-2']);
  } finally {
    await src.stop();
  }
});
