import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesEndpointSource } from '../../src/datalayer/sources/kubernetes-source.js';
import { findKubeConfig, loadKubeConfig, type LoadedKubeConfig } from '../../src/datalayer/sources/kube-config.js';
import type { EndpointInfo } from '../../src/router/api.js';
import { silentLogger } from '../../src/shared/logger.js';
import { runKvgate } from '../helpers/cli.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1, until } from './kubernetes-fake-api.js';

// A fresh API server per test: a request the previous test's stopped source had already sent
// (its watch, not yet answered when stop() returned) would otherwise reach the next test's server
// and show the previous test's identity there.
let api: FakeKubeApi;
beforeEach(async () => {
  api = await FakeKubeApi.start({ tokens: ['sa-token', 'kc-token', 'exec-token'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [8000]));
  api.put(PODS('ns'), pod('a', { ip: '10.9.0.1' }));
});
afterEach(() => api.close());

/** Discovers the pool with `config` and returns the endpoint ids and the identity the server saw. */
async function discover(config: LoadedKubeConfig): Promise<{ ids: string[]; auth: string[] }> {
  const before = api.requests.length;
  const seen: EndpointInfo[][] = [];
  const src = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config, logger: silentLogger(), backoffMs: 20 });
  src.start((e) => seen.push(e));
  try {
    await until(() => src.synced && seen.length > 0, 'synced');
    return { ids: seen.at(-1)!.map((e) => e.id), auth: [...new Set(api.requests.slice(before).map((r) => r.auth))] };
  } finally {
    await src.stop();
  }
}

test('in-cluster: client-node loadFromCluster reads the service-account token, CA and namespace from a given root', async () => {
  const sa = api.serviceAccount('sa-token', 'ns');
  const cfg = findKubeConfig({ env: { ...sa.env, HOME: mkdtempSync(join(tmpdir(), 'kvgate-home-')) } })!;
  assert.equal(cfg.source, 'in-cluster service account');
  assert.equal(cfg.server, api.url, 'https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT');
  assert.equal(cfg.namespace, 'ns');
  const r = await discover(cfg);
  assert.deepEqual(r.ids, ['10.9.0.1:8000']);
  assert.deepEqual(r.auth, ['token:sa-token'], 'every request carried the mounted token, over TLS verified with the mounted CA');
});

test('in-cluster with a CA that did not sign the server: a TLS error, not a silent fallback', async () => {
  const sa = api.serviceAccount('sa-token', 'ns');
  const other = (await import('../helpers/tls.js')).makeTestPki();
  copyFileSync(other.ca, join(sa.root, 'var/run/secrets/kubernetes.io/serviceaccount/ca.crt'));
  const cfg = findKubeConfig({ env: sa.env })!;
  const src = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config: cfg, logger: silentLogger(), backoffMs: 20 });
  src.start(() => {});
  try {
    await until(() => src.lastError !== undefined, 'error');
    assert.match(src.lastError!, /^list InferencePool ns\/pool: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed \(SELF_SIGNED_CERT_IN_CHAIN\): check the cluster CA$/);
    assert.equal(src.synced, false);
  } finally {
    await src.stop();
  }
});

test('kubeconfig with a client certificate', async () => {
  const r = await discover(findKubeConfig({ kubeconfig: api.kubeconfig({ clientCert: true }), env: {} })!);
  assert.deepEqual(r.ids, ['10.9.0.1:8000']);
  assert.deepEqual(r.auth, ['cert:client']);
});

test('kubeconfig with an exec credential plugin (as GKE\'s gke-gcloud-auth-plugin): run once, token cached until it expires', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-exec-'));
  const counter = join(dir, 'runs');
  writeFileSync(counter, '');
  const plugin = join(dir, 'plugin.mjs');
  writeFileSync(
    plugin,
    `import { appendFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(counter)}, 'x');
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'exec-token', expirationTimestamp: new Date(Date.now() + 3600e3).toISOString() } }));
`,
  );
  const cfg = findKubeConfig({ kubeconfig: api.kubeconfig({ exec: { command: process.execPath, args: [plugin] } }), env: {} })!;
  assert.equal(cfg.execCommand, process.execPath);
  const r = await discover(cfg);
  assert.deepEqual(r.ids, ['10.9.0.1:8000']);
  assert.deepEqual(r.auth, ['token:exec-token']);
  assert.equal(readFileSync(counter, 'utf8'), 'x', 'the plugin ran once for every list and watch');
});

test('a missing exec plugin and a rejected token are named', async () => {
  const missing = findKubeConfig({ kubeconfig: api.kubeconfig({ exec: { command: '/nonexistent/gke-gcloud-auth-plugin' } }), env: {} })!;
  const a = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config: missing, logger: silentLogger(), backoffMs: 20 });
  a.start(() => {});
  const wrong = findKubeConfig({ kubeconfig: api.kubeconfig({ token: 'stale' }), env: {} })!;
  const b = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', config: wrong, logger: silentLogger(), backoffMs: 20 });
  b.start(() => {});
  try {
    await until(() => a.lastError !== undefined && b.lastError !== undefined, 'both fail');
    assert.match(a.lastError!, /exec credential plugin "\/nonexistent\/gke-gcloud-auth-plugin" was not found/);
    assert.match(b.lastError!, /401 Unauthorized.*credentials from kubeconfig .* were rejected/);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('credential lookup order: --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config; none is a clear error', () => {
  const sa = api.serviceAccount('sa-token', 'ns');
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  mkdirSync(join(home, '.kube'));
  const homeKc = api.kubeconfig({ token: 'kc-token' }, join(home, '.kube'));
  const explicit = api.kubeconfig({ token: 'kc-token' });
  const viaEnv = api.kubeconfig({ token: 'kc-token' });
  assert.equal(findKubeConfig({ kubeconfig: explicit, env: { ...sa.env, KUBECONFIG: viaEnv, HOME: home } })!.source, `kubeconfig ${explicit}`);
  assert.equal(findKubeConfig({ env: { ...sa.env, KUBECONFIG: viaEnv, HOME: home } })!.source, `kubeconfig ${viaEnv}`);
  assert.equal(findKubeConfig({ env: { ...sa.env, HOME: home } })!.source, 'in-cluster service account');
  assert.equal(findKubeConfig({ env: { HOME: home } })!.source, `kubeconfig ${homeKc}`);
  const empty = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  assert.equal(findKubeConfig({ env: { HOME: empty } }), undefined);
  assert.throws(() => loadKubeConfig({ env: { HOME: empty } }), /no Kubernetes credentials: not in a pod \(KUBERNETES_SERVICE_HOST is unset\), and no kubeconfig/);
  assert.throws(() => loadKubeConfig({ env: { HOME: empty, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', KVGATE_IN_CLUSTER_ROOT: empty } }), /no service-account token at .*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token/);
  assert.throws(() => findKubeConfig({ kubeconfig: join(empty, 'nope') }), /--kubeconfig .*nope: no such file/);
  const bad = join(empty, 'bad');
  writeFileSync(bad, 'current-context: x\ncontexts: []\nclusters: []\nusers: []\n');
  assert.throws(() => findKubeConfig({ kubeconfig: bad }), /current-context "x" does not name a context with a cluster/);
});

test('kvgate epp --pool-name without any credentials exits 1 with the reason', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['epp', '--pool-name', 'pool', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--host', '127.0.0.1'], { env: { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kvgate: no Kubernetes credentials: not in a pod/);
});

test('kubeconfig paths relative to the kubeconfig\'s folder, as kubectl: token-file (kvgate\'s, read per request), certificate-authority, client-certificate, client-key (client-node\'s)', async () => {
  // Two kubeconfigs in folders other than the working directory, each naming its files relatively.
  const dirs = ['kvgate-kc-rel-a-', 'kvgate-kc-rel-b-'].map((p) => mkdtempSync(join(tmpdir(), p)));
  const write = (dir: string, user: string, u: Record<string, unknown>): string => {
    mkdirSync(join(dir, 'creds'));
    copyFileSync(api.pki.ca, join(dir, 'creds', 'ca.crt'));
    const file = join(dir, 'config');
    const kc = {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': user,
      contexts: [{ name: user, context: { cluster: `c-${user}`, user } }],
      clusters: [{ name: `c-${user}`, cluster: { server: api.url, 'certificate-authority': 'creds/ca.crt' } }],
      users: [{ name: user, user: u }],
    };
    writeFileSync(file, JSON.stringify(kc));
    return file;
  };
  writeFileSync(join(dirs[0], 'token'), 'kc-token\n');
  const tokenKc = write(dirs[0], 'tok', { 'token-file': 'token' });
  const certKc = write(dirs[1], 'cert', { 'client-certificate': 'creds/client.crt', 'client-key': 'creds/client.key' });
  copyFileSync(api.pki.clientCert, join(dirs[1], 'creds', 'client.crt'));
  copyFileSync(api.pki.clientKey, join(dirs[1], 'creds', 'client.key'));
  assert.notEqual(process.cwd(), dirs[0]);

  const cfg = findKubeConfig({ kubeconfig: tokenKc, env: {} })!;
  // Identities seen by the one API server: the source stopped just before may still land a request
  // there (see beforeEach), so each check looks for its own identity among them.
  const sees = async (c: LoadedKubeConfig, who: string, why: string) => {
    const r = await discover(c);
    assert.deepEqual(r.ids, ['10.9.0.1:8000']);
    assert.ok(r.auth.includes(who), `${why}: ${r.auth.join(', ')}`);
  };
  await sees(cfg, 'token:kc-token', 'the token file beside the kubeconfig, over TLS verified with the CA beside it');
  // $KUBECONFIG merged: the first file's current-context; each file's paths against its own folder.
  await sees(findKubeConfig({ env: { KUBECONFIG: `${certKc}:${tokenKc}` } })!, 'cert:client', 'client certificate and key beside the first file');
  await sees(findKubeConfig({ env: { KUBECONFIG: `${tokenKc}:${certKc}` } })!, 'token:kc-token', 'token file beside the first file');
  // Still read per request from the resolved path: a rotated token is sent by the same config.
  writeFileSync(join(dirs[0], 'token'), 'sa-token\n');
  await sees(cfg, 'token:sa-token', 'the rotated token');
});
