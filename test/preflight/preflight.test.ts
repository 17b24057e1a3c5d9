import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';
import { FakeKubeApi } from '../datalayer/kubernetes-fake-api.js';

type Answer = { stdout?: string; stderr?: string; code?: number };

/**
 * A directory of stand-in tools for PATH: `gcloud` answers from a table keyed by its arguments
 * (longest matching prefix wins) and logs every call; `kubectl`, `gke-gcloud-auth-plugin` and
 * `jq` print a version when present.
 */
function stubTools(o: { gcloud?: Record<string, Answer>; plugin?: boolean; jq?: boolean; kubectl?: boolean }): { path: string; log: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-stub-bin-'));
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  const tool = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!${process.execPath}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  if (o.gcloud) {
    writeFileSync(join(dir, 'gcloud.json'), JSON.stringify({ '--version': { stdout: 'Google Cloud SDK 500.0.0\n' }, ...o.gcloud }));
    tool(
      'gcloud',
      `const fs = require('node:fs');
const args = process.argv.slice(2).join(' ');
fs.appendFileSync(${JSON.stringify(log)}, args + '\\n');
const table = JSON.parse(fs.readFileSync(${JSON.stringify(join(dir, 'gcloud.json'))}, 'utf8'));
const key = Object.keys(table).filter((k) => args.startsWith(k)).sort((a, b) => b.length - a.length)[0];
const a = key === undefined ? { stderr: 'ERROR: (gcloud) unexpected: ' + args, code: 2 } : table[key];
process.stdout.write(a.stdout ?? '');
process.stderr.write(a.stderr ?? '');
process.exit(a.code ?? 0);`,
    );
  }
  if (o.kubectl !== false) tool('kubectl', `process.stdout.write(JSON.stringify({ clientVersion: { gitVersion: 'v1.32.4' } }));`);
  if (o.plugin) tool('gke-gcloud-auth-plugin', `process.stdout.write('Kubernetes v1.30.0+stub\\n');`);
  if (o.jq) tool('jq', `process.stdout.write('jq-1.6\\n');`);
  return { path: dir, log: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

/** gcloud answers for a healthy project with `quota` v6e chips of limit, `used` in use. */
function healthyGcloud(quota = 32, used = 4): Record<string, Answer> {
  return {
    'auth list': { stdout: 'ops@example.com\n' },
    'config get-value project': { stdout: 'demo-project\n' },
    'projects describe demo-project': { stdout: JSON.stringify({ projectId: 'demo-project', lifecycleState: 'ACTIVE' }) },
    'services list': { stdout: 'compute.googleapis.com\ncontainer.googleapis.com\nstorage.googleapis.com\n' },
    'compute zones describe europe-west4-a': { stdout: JSON.stringify({ name: 'europe-west4-a', status: 'UP' }) },
    'compute machine-types describe ct6e-standard-4t --zone=europe-west4-a': { stdout: JSON.stringify({ name: 'ct6e-standard-4t' }) },
    'compute regions describe europe-west4': {
      stdout: JSON.stringify({ name: 'europe-west4', quotas: [{ metric: 'CPUS', limit: 96, usage: 8 }, { metric: 'PREEMPTIBLE_TPU_V6E_TEST_CHIPS', limit: 64, usage: 0 }, { metric: 'TPU_V6E_TEST_CHIPS', limit: quota, usage: used }] }),
    },
  };
}

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const ALL_CRDS = ['inferencepools.inference.networking.k8s.io', 'gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'envoyfilters.networking.istio.io'];

async function fakeCluster(opts: { crds: string[]; nsLabels?: Record<string, string>; secrets: string[] }) {
  const api = await FakeKubeApi.start({ tokens: ['t0k'] });
  api.addCollection(CRDS);
  for (const name of opts.crds) api.put(CRDS, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name } });
  api.addCollection('/api/v1/namespaces');
  if (opts.nsLabels) api.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1', labels: opts.nsLabels } });
  api.addCollection('/api/v1/namespaces/ns1/secrets');
  for (const s of opts.secrets) api.put('/api/v1/namespaces/ns1/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: s, namespace: 'ns1' } });
  return { api, kubeconfig: api.kubeconfig({ token: 't0k' }) };
}

test('preflight --tpu --customer on a ready project and cluster: every check passes, in plain words', async () => {
  const tools = stubTools({ gcloud: healthyGcloud(), plugin: true });
  const { api, kubeconfig } = await fakeCluster({ crds: ALL_CRDS, nsLabels: { 'istio-injection': 'enabled' }, secrets: ['hf-token'] });
  try {
    const r = await runKvgate(['preflight', '--tpu', '--customer', '--kubeconfig', kubeconfig, '--namespace', 'ns1', '--secret', 'hf-token'], { env: { PATH: tools.path } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Tools$/m);
    assert.match(r.stdout, /^Google Cloud$/m);
    assert.match(r.stdout, /✅ GCP authentication: ops@example\.com/);
    assert.match(r.stdout, /✅ zone europe-west4-a: UP/);
    assert.match(r.stdout, /✅ TPU v6e in europe-west4-a: machine type ct6e-standard-4t offered/);
    assert.match(r.stdout, /✅ TPU v6e quota: 12 chips needed \(3 nodes × 4\); 28 of 32 free in europe-west4 \(TPU_V6E_TEST_CHIPS\)/);
    assert.match(r.stdout, /✅ cluster reachable: https:\/\/127\.0\.0\.1:\d+ \(context test, Kubernetes v1\.31\.2/);
    assert.match(r.stdout, /✅ Ready to deploy: every required check passed\./);
    assert.match(r.stdout, /➖ jq \(optional\): not installed/);
    assert.match(r.stdout, /✅ gcloud: Google Cloud SDK 500\.0\.0/);
    assert.ok(tools.log().includes('compute regions describe europe-west4 --project=demo-project --format=json'), tools.log().join('\n'));
  } finally {
    await api.close();
  }
});

test('preflight --tpu: too little TPU quota fails with the numbers and what to do; exit 1', async () => {
  const tools = stubTools({ gcloud: healthyGcloud(8, 0), plugin: true });
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['preflight', '--tpu'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL\s+TPU v6e quota\s+12 chips needed \(3 nodes × 4\); 8 of 8 free in europe-west4 \(TPU_V6E_TEST_CHIPS\)\n\s+fix: request more TPU_V6E_TEST_CHIPS quota in europe-west4/);
  const customer = await runKvgate(['preflight', '--tpu', '--customer', '--nodes', '2'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(customer.code, 0, '2 nodes need 8 chips: enough');
  assert.match(customer.stdout, /✅ TPU v6e quota: 8 chips needed \(2 nodes × 4\)/);
});

test('preflight --gpu --zone --project: the accelerator type and the H100 quota of that region', async () => {
  const tools = stubTools({
    gcloud: {
      'auth list': { stdout: 'ops@example.com\n' },
      'projects describe p2': { stdout: JSON.stringify({ lifecycleState: 'ACTIVE' }) },
      'services list': { stdout: 'compute.googleapis.com\n' },
      'compute zones describe us-east5-a': { stdout: JSON.stringify({ status: 'UP' }) },
      'compute accelerator-types describe nvidia-h100-80gb --zone=us-east5-a': { stderr: 'ERROR: (gcloud.compute.accelerator-types.describe) Could not fetch resource', code: 1 },
      'compute regions describe us-east5': { stdout: JSON.stringify({ quotas: [{ metric: 'NVIDIA_H100_GPUS', limit: 2, usage: 0 }] }) },
    },
    plugin: true,
  });
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['preflight', '--gpu', '--zone', 'us-east5-a', '--project', 'p2', '--nodes', '3', '--json'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(r.code, 1);
  const rows = JSON.parse(r.stdout).rows as { check: string; status: string; detail: string; hint?: string }[];
  const by = (c: string) => rows.find((x) => x.check === c)!;
  assert.equal(by('GCP APIs').status, 'FAIL');
  assert.equal(by('GCP APIs').hint, 'gcloud services enable container.googleapis.com --project p2');
  assert.equal(by('NVIDIA H100 80GB in us-east5-a').status, 'FAIL');
  assert.equal(by('NVIDIA H100 80GB quota').detail, '3 GPUs needed (3 nodes × 1); 2 of 2 free in us-east5 (NVIDIA_H100_GPUS)');
  assert.ok(!tools.log().some((l) => l.startsWith('config get-value')), '--project given: not asked');
});

test('preflight --tpu without gcloud login, and without gcloud at all', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const noLogin = stubTools({ gcloud: { 'auth list': { stdout: '' } }, plugin: true });
  const r = await runKvgate(['preflight', '--tpu', '--customer'], { env: { PATH: noLogin.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /❌ Not ready: 1 thing to fix first\.\n {2}1\. GCP authentication — no active account\n {5}What to do: gcloud auth login/);
  const none = stubTools({ plugin: false });
  const n = await runKvgate(['preflight', '--tpu'], { env: { PATH: none.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(n.code, 1);
  assert.match(n.stdout, /FAIL\s+gcloud\s+not found on PATH\n\s+fix: install the Google Cloud CLI/);
  assert.match(n.stdout, /FAIL\s+gke-gcloud-auth-plugin\s+not found on PATH/);
  assert.match(n.stdout, /SKIP\s+GCP authentication\s+gcloud is not installed/);
  const both = await runKvgate(['preflight', '--tpu', '--gpu'], { env: { PATH: none.path, HOME: home } });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /give one accelerator: --tpu, --gpu or --accelerator \(got tpu and gpu\)/);
});

test('a ready cluster passes every cluster check (no --tpu: gcloud optional)', async () => {
  const tools = stubTools({});
  const { api, kubeconfig } = await fakeCluster({ crds: ALL_CRDS, nsLabels: { 'istio-injection': 'enabled' }, secrets: ['hf-token'] });
  try {
    const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig, '--namespace', 'ns1', '--secret', 'hf-token', '--json'], { env: { PATH: tools.path } });
    assert.equal(r.code, 0, r.stdout);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.rows.filter((x: { status: string; required: boolean }) => x.status === 'FAIL' && x.required), []);
    assert.ok(out.rows.some((x: { check: string; status: string }) => x.check === 'gcloud (optional)' && x.status === 'SKIP'));
  } finally {
    await api.close();
  }
});

test('missing CRDs, label and secret each FAIL with a fix hint; exit 1', async () => {
  const tools = stubTools({});
  const { api, kubeconfig } = await fakeCluster({ crds: ALL_CRDS.slice(1), nsLabels: {}, secrets: [] });
  try {
    const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig, '--namespace', 'ns1', '--secret', 'hf-token'], { env: { PATH: tools.path } });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL\s+CRD InferencePool \(GIE\)\s+inferencepools\.inference\.networking\.k8s\.io not installed\n\s+fix: install the Gateway API Inference Extension CRDs/);
    assert.match(r.stdout, /FAIL\s+namespace ns1 sidecar injection\s+no istio-injection label\n\s+fix: kubectl label namespace ns1 istio-injection=enabled/);
    assert.match(r.stdout, /FAIL\s+secret hf-token\s+missing in ns1/);
    assert.match(r.stdout, /SKIP\s+CRD KServe LLMInferenceService/);
  } finally {
    await api.close();
  }
});

test('without a cluster, preflight checks local tools and says so', async () => {
  const tools = stubTools({});
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['preflight'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /no cluster configured: only local tools were checked/);
  assert.match(r.stdout, /SKIP\s+cluster reachable/);
  assert.match(r.stdout, /^preflight passed for the local checks only: the cluster was NOT verified$/m);
});

test('preflight --customer without a cluster: exit 0 but "Cluster not verified", never "Ready to deploy"', async () => {
  const tools = stubTools({});
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['preflight', '--customer'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  // Exit 0 as documented: nothing required failed (the first step of the deployment guide runs
  // before the cluster exists); the verdict carries the "not verified".
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /➖ not checked \(no cluster configured/);
  assert.doesNotMatch(r.stdout, /Ready to deploy/);
  assert.match(r.stdout, /^➖ Cluster not verified: the local checks passed, but no kubeconfig was found/m);
  assert.match(r.stdout, /run kvgate preflight again with the cluster's kubeconfig/);
  const j = await runKvgate(['preflight', '--json'], { env: { PATH: tools.path, HOME: home, KUBECONFIG: '' } });
  assert.equal(j.code, 0);
  const body = JSON.parse(j.stdout) as { passed: boolean; cluster: boolean };
  assert.deepEqual([body.passed, body.cluster], [true, false]);
});

test('an unreachable cluster fails with a hint', async () => {
  const tools = stubTools({});
  const api = await FakeKubeApi.start();
  const kubeconfig = api.kubeconfig({ token: 'x' });
  await api.close();
  const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig], { env: { PATH: tools.path } });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL\s+cluster reachable\s+https:\/\/127\.0\.0\.1:\d+: connection refused/);
  assert.match(r.stdout, /fix: check the kubeconfig context/);
});

test('preflight refuses names that cannot exist and Google Cloud flags with no Google Cloud check to use them, naming the flag; no check runs', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const cases: [string[], RegExp][] = [
    [['--namespace', ''], /^kvgate: --namespace "" is not a Kubernetes namespace \(a DNS-1123 label/m],
    [['--namespace', 'Bad_NS'], /--namespace "Bad_NS" is not a Kubernetes namespace/],
    [['--secret', 'HF Token'], /--secret "HF Token" is not a Kubernetes Secret name \(a DNS-1123 subdomain/],
    [['--zone', 'us-central1-a'], /^kvgate: --zone only applies to the Google Cloud checks: give --tpu, --gpu or --accelerator too/m],
    [['--project', 'p2', '--nodes', '2'], /^kvgate: --project, --nodes only apply to the Google Cloud checks/m],
    [['--tpu', '--zone', ''], /--zone "" is not a Compute Engine zone \(like europe-west4-a/],
    [['--gpu', '--zone', 'us central1'], /--zone "us central1" is not a Compute Engine zone/],
    [['--gpu', '--project', ''], /--project "" is not a Google Cloud project id/],
    [['--accelerator', 'tpu', '--project', 'My Project'], /--project "My Project" is not a Google Cloud project id/],
  ];
  for (const [args, message] of cases) {
    const r = await runKvgate(['preflight', ...args], { env: { HOME: home, KUBECONFIG: '' } });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: no check ran`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
