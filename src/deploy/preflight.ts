import { ApiextensionsV1Api, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { describeKubeError, findKubeConfig, type LoadedKubeConfig } from '../datalayer/sources/kube-config.js';
import { kubeConfigOf } from '../datalayer/sources/kube-client.js';
import { gcpChecks, run, type AcceleratorFamily } from './preflight-gcp.js';
import { NO_CLUSTER, type PreflightRow } from './preflight-types.js';

export type { PreflightRow, Status } from './preflight-types.js';

export interface PreflightOptions {
  kubeconfig?: string;
  namespace: string;
  secrets: string[];
  kserve: boolean;
  /** `--tpu` / `--gpu`: also check the Google Cloud side of a GKE accelerator deployment. */
  accelerator?: AcceleratorFamily;
  zone?: string;
  project?: string;
  /** Accelerator nodes (model-server replicas) the deployment needs. */
  nodes: number;
  /** Environment for the tools run and the kubeconfig lookup (tests). */
  env?: NodeJS.ProcessEnv;
}

const CRDS: { name: string; what: string; required: (o: PreflightOptions) => boolean; hint: string }[] = [
  { name: 'inferencepools.inference.networking.k8s.io', what: 'InferencePool (GIE)', required: () => true, hint: 'install the Gateway API Inference Extension CRDs (v1)' },
  { name: 'inferenceobjectives.inference.networking.x-k8s.io', what: 'InferenceObjective (GIE)', required: () => false, hint: 'install the Gateway API Inference Extension CRDs to set priorities with InferenceObjectives' },
  { name: 'gateways.gateway.networking.k8s.io', what: 'Gateway API Gateway', required: () => true, hint: 'install the Gateway API standard CRDs' },
  { name: 'httproutes.gateway.networking.k8s.io', what: 'Gateway API HTTPRoute', required: () => true, hint: 'install the Gateway API standard CRDs' },
  { name: 'envoyfilters.networking.istio.io', what: 'Istio EnvoyFilter', required: () => true, hint: 'install Istio (the EnvoyFilters forward request bodies to the endpoint picker)' },
  { name: 'llminferenceservices.serving.kserve.io', what: 'KServe LLMInferenceService', required: (o) => o.kserve, hint: 'install KServe ≥ v0.15 with LLMInferenceService (only for --kserve)' },
];

async function toolRows(o: PreflightOptions): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  const gke = o.accelerator !== undefined;
  const tool = async (name: string, args: string[], required: boolean, why: string, hint: string, pick: (out: string) => string) => {
    const r = await run(name, args, o.env, 20_000);
    if (r.code === 0) rows.push({ group: 'Tools', check: name, status: 'PASS', detail: pick(r.stdout) || 'installed', required });
    else if (required) rows.push({ group: 'Tools', check: name, status: 'FAIL', detail: r.code === 'missing' ? 'not found on PATH' : `${name} ${args.join(' ')} failed`, hint, required });
    else rows.push({ group: 'Tools', check: `${name} (optional)`, status: 'SKIP', detail: r.code === 'missing' ? `not installed (${why})` : `${name} ${args.join(' ')} failed`, required });
  };
  const first = (s: string) => s.trim().split('\n')[0]?.trim() ?? '';
  await tool('kubectl', ['version', '--client', '--output=json'], true, '', 'install kubectl (https://kubernetes.io/docs/tasks/tools/)', (s) => {
    try {
      return `client ${(JSON.parse(s) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? ''}`.trim();
    } catch {
      return first(s);
    }
  });
  await tool('gcloud', ['--version'], gke, 'needed only to create GKE clusters and node pools', 'install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)', first);
  if (gke) await tool('gke-gcloud-auth-plugin', ['--version'], true, '', 'gcloud components install gke-gcloud-auth-plugin (Debian: apt-get install google-cloud-cli-gke-gcloud-auth-plugin); kubectl needs it for GKE', first);
  await tool('jq', ['--version'], false, "kvgate does not need it; the seed's guide uses it once", '', first);
  return rows;
}

function clusterSkips(o: PreflightOptions, why: string, includeReachable: boolean): PreflightRow[] {
  const names = [...CRDS.map((c) => `CRD ${c.what}`), `namespace ${o.namespace} sidecar injection`, ...o.secrets.map((s) => `secret ${s}`)];
  return (includeReachable ? ['cluster reachable', ...names] : names).map((check) => ({ group: 'Cluster', check, status: 'SKIP' as const, detail: why, required: false }));
}

async function clusterRows(o: PreflightOptions): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  const row = (check: string, status: PreflightRow['status'], detail: string, hint?: string, required = true): PreflightRow => ({ group: 'Cluster', check, status, detail, hint, required });
  let cfg: LoadedKubeConfig | undefined;
  try {
    cfg = findKubeConfig({ kubeconfig: o.kubeconfig, env: o.env });
  } catch (err) {
    rows.push(row('kubeconfig', 'FAIL', (err as Error).message, 'point --kubeconfig at a valid file'));
    return rows;
  }
  if (!cfg) return clusterSkips(o, NO_CLUSTER, true);
  const kc = kubeConfigOf(cfg);
  try {
    const v = await kc.makeApiClient(VersionApi).getCode();
    rows.push(row('cluster reachable', 'PASS', `${cfg.server} (context ${cfg.context}, Kubernetes ${v.gitVersion}, credentials: ${cfg.source})`));
  } catch (err) {
    const hint = cfg.execCommand ? `check the context, network and the ${cfg.execCommand} login (gcloud container clusters get-credentials CLUSTER --zone ZONE)` : 'check the kubeconfig context, VPN and credentials (gcloud container clusters get-credentials …)';
    rows.push(row('cluster reachable', 'FAIL', describeKubeError(err, cfg.server, cfg), hint));
    rows.push(...clusterSkips(o, 'cluster unreachable', false));
    return rows;
  }
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const status = (err: unknown) => (err as { code?: unknown }).code;
  for (const c of CRDS) {
    const required = c.required(o);
    try {
      await ext.readCustomResourceDefinition({ name: c.name });
      rows.push(row(`CRD ${c.what}`, 'PASS', c.name, undefined, required));
    } catch (err) {
      if (status(err) === 404 && !required) rows.push(row(`CRD ${c.what}`, 'SKIP', `${c.name} not installed (optional${c.name.startsWith('llminferenceservices') ? ' without --kserve' : ''})`, undefined, false));
      else rows.push(row(`CRD ${c.what}`, 'FAIL', status(err) === 404 ? `${c.name} not installed` : describeKubeError(err, `read CRD ${c.name}`, cfg), c.hint, required));
    }
  }
  const injection = `namespace ${o.namespace} sidecar injection`;
  try {
    const ns = await core.readNamespace({ name: o.namespace });
    const labels = ns.metadata?.labels ?? {};
    const on = labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined;
    if (on) rows.push(row(injection, 'PASS', labels['istio-injection'] ? 'istio-injection=enabled' : `istio.io/rev=${labels['istio.io/rev']}`));
    else rows.push(row(injection, 'FAIL', 'no istio-injection label', `kubectl label namespace ${o.namespace} istio-injection=enabled (kvgate render's namespace.yaml has it)`));
  } catch (err) {
    if (status(err) === 404) rows.push(row(injection, 'FAIL', `namespace ${o.namespace} not found`, `kubectl apply -f namespace.yaml from kvgate render (or kubectl create namespace ${o.namespace} && kubectl label namespace ${o.namespace} istio-injection=enabled)`));
    else rows.push(row(injection, 'FAIL', describeKubeError(err, `read namespace ${o.namespace}`, cfg)));
  }
  for (const s of o.secrets) {
    try {
      await core.readNamespacedSecret({ name: s, namespace: o.namespace });
      rows.push(row(`secret ${s}`, 'PASS', `present in ${o.namespace}`));
    } catch (err) {
      rows.push(row(`secret ${s}`, 'FAIL', status(err) === 404 ? `missing in ${o.namespace}` : status(err) === 403 ? 'no permission to read it' : describeKubeError(err, `read secret ${s}`, cfg), `kubectl apply -n ${o.namespace} -f ${s}.yaml (or kubectl create secret generic ${s} -n ${o.namespace} …)`));
    }
  }
  return rows;
}

/**
 * The seed's `preflight-check.sh` as code: local tools; with `--tpu`/`--gpu` the Google Cloud
 * side (gcloud: account, project, APIs, zone, accelerator offered, quota); and the cluster
 * (reachable with the kubeconfig's credentials, CRDs, the namespace's sidecar injection, secrets).
 * Every check is a row and never throws; without a cluster the cluster rows are skipped.
 */
export async function runPreflight(o: PreflightOptions): Promise<PreflightRow[]> {
  const rows = await toolRows(o);
  if (o.accelerator) rows.push(...(await gcpChecks({ accelerator: o.accelerator, zone: o.zone, project: o.project, nodes: o.nodes, env: o.env })));
  rows.push(...(await clusterRows(o)));
  return rows;
}

/** True when no required row failed. */
export function preflightPassed(rows: PreflightRow[]): boolean {
  return rows.every((r) => r.status !== 'FAIL' || !r.required);
}
