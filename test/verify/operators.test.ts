import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { FakeKubeApi } from '../datalayer/kubernetes-fake-api.js';

const DEPLOYMENTS = (ns: string) => `/apis/apps/v1/namespaces/${ns}/deployments`;
const PODS = (ns: string) => `/api/v1/namespaces/${ns}/pods`;

function deployment(ns: string, name: string, available: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: { replicas: 1, selector: { matchLabels: { app: name } } },
    status: { replicas: 1, availableReplicas: available, conditions: [{ type: 'Available', status: available > 0 ? 'True' : 'False' }] },
  };
}

function podOf(ns: string, app: string, state: 'ok' | 'crash') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${app}-7d9f-x`, namespace: ns, labels: { app } },
    status:
      state === 'ok'
        ? { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'i', imageID: 'i', state: { running: {} } }] }
        : { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'c', ready: false, restartCount: 7, image: 'i', imageID: 'i', state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
  };
}

/** The operators of an RHAII-on-xKS install, as the Kubernetes API shows them. */
async function cluster(opts: { kserve?: 'ok' | 'crash'; lws?: boolean } = {}) {
  const api = await FakeKubeApi.start({ tokens: ['t'] });
  const add = (ns: string, name: string, state: 'ok' | 'crash' = 'ok') => {
    api.put(DEPLOYMENTS(ns), deployment(ns, name, state === 'ok' ? 1 : 0));
    api.put(PODS(ns), podOf(ns, name, state));
  };
  for (const ns of ['cert-manager', 'istio-system', 'opendatahub', 'kserve', 'redhat-ods-applications', 'openshift-lws-operator', 'lws-system']) {
    api.addCollection(DEPLOYMENTS(ns));
    api.addCollection(PODS(ns));
  }
  add('cert-manager', 'cert-manager');
  add('cert-manager', 'cert-manager-webhook');
  add('cert-manager', 'cert-manager-cainjector');
  add('istio-system', 'istiod');
  add('opendatahub', 'kserve-controller-manager', opts.kserve ?? 'ok');
  if (opts.lws !== false) add('openshift-lws-operator', 'lws-controller-manager');
  return { api, kubeconfig: api.kubeconfig({ token: 't' }) };
}

test('verify --operators-only: cert-manager, its webhook, Istio, KServe and LWS ready → every row PASS, exit 0', async () => {
  const { api, kubeconfig } = await cluster();
  try {
    const r = await runKvgate(['verify', '--operators-only', '--kubeconfig', kubeconfig]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n')[0], "Verification of the cluster's operators (Kubernetes API)", 'a title, not the command line \'kvgate verify operators\'');
    for (const row of ['cert-manager', 'cert-manager webhook', 'Istio control plane', 'KServe controller', 'LWS controller', 'Operator pods']) assert.match(r.stdout, new RegExp(`\\| ${row}\\s+\\| PASS`));
    assert.match(r.stdout, /\| KServe controller\s+\| PASS\s+\| opendatahub\/kserve-controller-manager 1\/1 available/);
    assert.match(r.stdout, /\| Operator pods\s+\| PASS\s+\| 6\/6 Running and Ready/);
    assert.ok(api.requests.every((x) => x.auth === 'token:t'));
  } finally {
    await api.close();
  }
});

test('a crash-looping KServe controller and a missing LWS fail with what to look at', async () => {
  const { api, kubeconfig } = await cluster({ kserve: 'crash', lws: false });
  try {
    const r = await runKvgate(['verify', '--operators-only', '--kubeconfig', kubeconfig, '--json']);
    assert.equal(r.code, 1);
    const rows = JSON.parse(r.stdout).rows as { test: string; status: string; result: string; diagnosis?: string }[];
    const kserve = rows.find((x) => x.test === 'KServe controller')!;
    assert.equal(kserve.status, 'FAIL');
    assert.equal(kserve.result, 'opendatahub/kserve-controller-manager 0/1 available');
    assert.match(kserve.diagnosis!, /pods kserve-controller-manager-7d9f-x: CrashLoopBackOff; see kubectl describe deployment kserve-controller-manager -n opendatahub/);
    const lws = rows.find((x) => x.test === 'LWS controller')!;
    assert.equal(lws.status, 'FAIL');
    assert.match(lws.diagnosis!, /no Deployment matching .* in openshift-lws-operator or lws-system: install the LeaderWorkerSet controller/);
    assert.equal(rows.find((x) => x.test === 'Istio control plane')!.status, 'PASS');
    assert.match(rows.find((x) => x.test === 'Operator pods')!.diagnosis!, /opendatahub\/kserve-controller-manager-7d9f-x: CrashLoopBackOff/);
  } finally {
    await api.close();
  }
});

test('--operators-only without access: a readable FAIL, not a stack trace', async () => {
  const { api } = await cluster();
  try {
    const r = await runKvgate(['verify', '--operators-only', '--kubeconfig', api.kubeconfig({ token: 'wrong' })]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\| Cluster\s+\| FAIL\s+\| unreachable/);
    assert.match(r.stdout, /401 Unauthorized/);
    assert.doesNotMatch(r.stdout + r.stderr, /at .*\.(ts|js):\d+/);
  } finally {
    await api.close();
  }
});
