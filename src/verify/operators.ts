import { AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { describeKubeError, loadKubeConfig, type LoadedKubeConfig } from '../datalayer/sources/kube-config.js';
import { kubeConfigOf } from '../datalayer/sources/kube-client.js';
import type { CheckRow } from './checks.js';

/**
 * The operators the seed's deployment stands on (`verify-deployment.sh --operators-only`), with
 * the namespaces and Deployment names RHAII-on-xKS and the upstream installs use.
 */
export const OPERATORS: { test: string; namespaces: string[]; deployment: RegExp; install: string }[] = [
  { test: 'cert-manager', namespaces: ['cert-manager'], deployment: /^cert-manager$/, install: 'install cert-manager (rhaii-on-xks installs it)' },
  { test: 'cert-manager webhook', namespaces: ['cert-manager'], deployment: /^cert-manager-webhook$/, install: 'install cert-manager with its webhook' },
  { test: 'Istio control plane', namespaces: ['istio-system'], deployment: /^istiod(-.+)?$/, install: 'install Istio / OpenShift Service Mesh (istiod in istio-system)' },
  { test: 'KServe controller', namespaces: ['opendatahub', 'kserve', 'redhat-ods-applications'], deployment: /^(kserve|llmisvc)-controller-manager$/, install: 'install KServe ≥ v0.15 (rhaii-on-xks puts it in opendatahub)' },
  { test: 'LWS controller', namespaces: ['openshift-lws-operator', 'lws-system'], deployment: /^(lws-controller-manager|openshift-lws-operator)$/, install: 'install the LeaderWorkerSet controller (rhaii-on-xks: openshift-lws-operator)' },
];

function available(d: V1Deployment): { ok: boolean; text: string } {
  const want = d.spec?.replicas ?? 1;
  const have = d.status?.availableReplicas ?? 0;
  const cond = d.status?.conditions?.find((c) => c.type === 'Available');
  return { ok: have >= want && want > 0 && cond?.status !== 'False', text: `${have}/${want} available` };
}

/** Why a pod is not running and ready, or undefined when it is (or completed). */
function podProblem(p: V1Pod): string | undefined {
  const phase = p.status?.phase;
  if (phase === 'Succeeded') return undefined;
  const waiting = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((c) => c.state?.waiting?.reason).find(Boolean);
  if (waiting) return waiting;
  if (phase !== 'Running') return phase ?? 'Unknown';
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return ready ? undefined : 'Running, not Ready';
}

/**
 * One row per operator (its Deployment found and Available) and one for all their pods (Running,
 * Ready), read through the Kubernetes API with the kubeconfig or in-cluster credentials.
 */
export async function verifyOperators(o: { kubeconfig?: string; config?: LoadedKubeConfig }): Promise<CheckRow[]> {
  let cfg: LoadedKubeConfig;
  try {
    cfg = o.config ?? loadKubeConfig({ kubeconfig: o.kubeconfig });
  } catch (err) {
    return [{ test: 'Cluster', status: 'FAIL', result: 'no credentials', diagnosis: (err as Error).message }];
  }
  const kc = kubeConfigOf(cfg);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces = [...new Set(OPERATORS.flatMap((op) => op.namespaces))];
  const deployments = new Map<string, V1Deployment[]>();
  const pods = new Map<string, V1Pod[]>();
  const errors = new Map<string, string>();
  for (const ns of namespaces) {
    try {
      deployments.set(ns, (await apps.listNamespacedDeployment({ namespace: ns })).items);
      pods.set(ns, (await core.listNamespacedPod({ namespace: ns })).items);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404) {
        deployments.set(ns, []);
        pods.set(ns, []);
      } else errors.set(ns, describeKubeError(err, `list deployments in ${ns}`, cfg));
    }
  }
  if (errors.size === namespaces.length) return [{ test: 'Cluster', status: 'FAIL', result: 'unreachable', diagnosis: [...errors.values()][0] }];
  const rows: CheckRow[] = [];
  for (const op of OPERATORS) {
    const found = op.namespaces.flatMap((ns) => (deployments.get(ns) ?? []).filter((d) => op.deployment.test(d.metadata?.name ?? '')).map((d) => ({ ns, d })));
    const denied = op.namespaces.map((ns) => errors.get(ns)).find(Boolean);
    if (found.length === 0) {
      rows.push({ test: op.test, status: 'FAIL', result: 'not installed', diagnosis: denied ?? `no Deployment matching ${op.deployment.source} in ${op.namespaces.join(' or ')}: ${op.install}` });
      continue;
    }
    const states = found.map(({ ns, d }) => ({ ns, name: d.metadata?.name ?? '', ...available(d) }));
    const good = states.filter((s) => s.ok);
    const summary = states.map((s) => `${s.ns}/${s.name} ${s.text}`).join(', ');
    if (good.length > 0) {
      rows.push({ test: op.test, status: 'PASS', result: summary });
      continue;
    }
    const bad = found.flatMap(({ ns, d }) => {
      const sel = d.spec?.selector?.matchLabels ?? {};
      return (pods.get(ns) ?? []).filter((p) => Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v)).map((p) => [p, ns] as const);
    });
    const why = bad.map(([p]) => `${p.metadata?.name}: ${podProblem(p) ?? 'Ready'}`).join(', ');
    const first = states[0];
    rows.push({ test: op.test, status: 'FAIL', result: summary, diagnosis: `${why ? `pods ${why}; ` : 'no pods; '}see kubectl describe deployment ${first.name} -n ${first.ns} and kubectl logs deployment/${first.name} -n ${first.ns}` });
  }
  const all = [...pods.entries()].flatMap(([ns, list]) => list.map((p) => ({ ns, p, problem: podProblem(p) })));
  const failing = all.filter((x) => x.problem);
  if (all.length === 0) rows.push({ test: 'Operator pods', status: 'FAIL', result: 'none found', diagnosis: `no pods in ${namespaces.join(', ')}` });
  else if (failing.length) rows.push({ test: 'Operator pods', status: 'FAIL', result: `${all.length - failing.length}/${all.length} Running and Ready`, diagnosis: failing.map((x) => `${x.ns}/${x.p.metadata?.name}: ${x.problem}`).join(', ') });
  else rows.push({ test: 'Operator pods', status: 'PASS', result: `${all.length}/${all.length} Running and Ready (${[...new Set(all.map((x) => x.ns))].join(', ')})` });
  return rows;
}
