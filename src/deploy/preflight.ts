import { execFile } from 'node:child_process';
import { KubeClient } from '../datalayer/sources/kube-client.js';

export type Status = 'PASS' | 'FAIL' | 'SKIP';
export interface PreflightRow {
  check: string;
  status: Status;
  detail: string;
  /** How to fix a FAIL. */
  hint?: string;
  required: boolean;
}

export interface PreflightOptions {
  kubeconfig?: string;
  namespace: string;
  secrets: string[];
  kserve: boolean;
}

const CRDS: { name: string; what: string; required: (o: PreflightOptions) => boolean; hint: string }[] = [
  { name: 'inferencepools.inference.networking.k8s.io', what: 'InferencePool (GIE)', required: () => true, hint: 'install the Gateway API Inference Extension CRDs (v1)' },
  { name: 'gateways.gateway.networking.k8s.io', what: 'Gateway API Gateway', required: () => true, hint: 'install the Gateway API standard CRDs' },
  { name: 'httproutes.gateway.networking.k8s.io', what: 'Gateway API HTTPRoute', required: () => true, hint: 'install the Gateway API standard CRDs' },
  { name: 'envoyfilters.networking.istio.io', what: 'Istio EnvoyFilter', required: () => true, hint: 'install Istio (the EnvoyFilters forward request bodies to the endpoint picker)' },
  { name: 'llminferenceservices.serving.kserve.io', what: 'KServe LLMInferenceService', required: (o) => o.kserve, hint: 'install KServe ≥ v0.15 with LLMInferenceService (only for --kserve)' },
];

function which(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 5000 }, (err, out) => resolve(err ? undefined : out.trim().split('\n')[0])));
}

/** Checks that a cluster is ready for the rendered manifests; without a cluster, says so. */
export async function runPreflight(o: PreflightOptions): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  const kubectl = await which('kubectl', ['version', '--client', '--output=yaml']);
  rows.push(kubectl ? { check: 'kubectl', status: 'PASS', detail: 'installed', required: true } : { check: 'kubectl', status: 'FAIL', detail: 'not found on PATH', hint: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)', required: true });
  const gcloud = await which('gcloud', ['--version']);
  rows.push(gcloud ? { check: 'gcloud (optional)', status: 'PASS', detail: gcloud, required: false } : { check: 'gcloud (optional)', status: 'SKIP', detail: 'not installed (needed only to create GKE clusters and TPU node pools)', required: false });

  let client: KubeClient | undefined;
  try {
    client = KubeClient.fromKubeconfig(o.kubeconfig);
  } catch (err) {
    rows.push({ check: 'kubeconfig', status: 'FAIL', detail: (err as Error).message, hint: 'point --kubeconfig at a valid file', required: true });
    return rows;
  }
  const skipRest = (why: string, includeReachable: boolean) => {
    const names = [...CRDS.map((c) => `CRD ${c.what}`), `namespace ${o.namespace} sidecar injection`, ...o.secrets.map((s) => `secret ${s}`)];
    for (const c of includeReachable ? ['cluster reachable', ...names] : names) {
      rows.push({ check: c, status: 'SKIP', detail: why, required: false });
    }
  };
  if (!client) {
    skipRest('no cluster configured (no kubeconfig): only local checks ran', true);
    return rows;
  }
  try {
    const v = await client.get('/version');
    if (v.status !== 200) throw new Error(`GET /version answered ${v.status}`);
    rows.push({ check: 'cluster reachable', status: 'PASS', detail: `${client.server} (context ${client.context}, Kubernetes ${(v.body as { gitVersion?: string }).gitVersion ?? '?'})`, required: true });
  } catch (err) {
    rows.push({ check: 'cluster reachable', status: 'FAIL', detail: `${client.server}: ${(err as Error).message}`, hint: 'check the kubeconfig context, VPN and credentials (gcloud container clusters get-credentials …)', required: true });
    skipRest('cluster unreachable', false);
    await client.close();
    return rows;
  }
  try {
    for (const c of CRDS) {
      const r = await client.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.name}`);
      const required = c.required(o);
      if (r.status === 200) rows.push({ check: `CRD ${c.what}`, status: 'PASS', detail: c.name, required });
      else if (!required) rows.push({ check: `CRD ${c.what}`, status: 'SKIP', detail: `${c.name} not installed (not needed without --kserve)`, required });
      else rows.push({ check: `CRD ${c.what}`, status: 'FAIL', detail: r.status === 403 ? `no permission to read ${c.name}` : `${c.name} not installed`, hint: c.hint, required });
    }
    const ns = await client.get(`/api/v1/namespaces/${o.namespace}`);
    if (ns.status !== 200) {
      rows.push({ check: `namespace ${o.namespace} sidecar injection`, status: 'FAIL', detail: `namespace ${o.namespace} not found`, hint: `kubectl create namespace ${o.namespace} && kubectl label namespace ${o.namespace} istio-injection=enabled`, required: true });
    } else {
      const labels = (ns.body as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
      const on = labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined;
      rows.push(on ? { check: `namespace ${o.namespace} sidecar injection`, status: 'PASS', detail: labels['istio-injection'] ? 'istio-injection=enabled' : `istio.io/rev=${labels['istio.io/rev']}`, required: true } : { check: `namespace ${o.namespace} sidecar injection`, status: 'FAIL', detail: 'no istio-injection label', hint: `kubectl label namespace ${o.namespace} istio-injection=enabled`, required: true });
    }
    for (const s of o.secrets) {
      const r = await client.get(`/api/v1/namespaces/${o.namespace}/secrets/${s}`);
      rows.push(r.status === 200 ? { check: `secret ${s}`, status: 'PASS', detail: `present in ${o.namespace}`, required: true } : { check: `secret ${s}`, status: 'FAIL', detail: r.status === 403 ? 'no permission to read it' : `missing in ${o.namespace}`, hint: `kubectl create secret generic ${s} -n ${o.namespace} …`, required: true });
    }
  } catch (err) {
    rows.push({ check: 'cluster API', status: 'FAIL', detail: (err as Error).message, required: true });
  } finally {
    await client.close();
  }
  return rows;
}
