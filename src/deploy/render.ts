import { stringify } from 'yaml';
import { eppConfigPart, eppPart, namespacePart } from './render-epp.js';
import { gatewayPart, inferencePoolPart, istioPart, peerAuthenticationPart } from './render-istio.js';
import { kservePart } from './render-kserve.js';
import { modelServerPart, scrapeMonitorsPart } from './render-model-server.js';
import { monitoringManifests, type MonitoringOptions } from './monitoring.js';
import { networkPoliciesPart } from './render-network-policies.js';
import { autoscalingPart } from './autoscaling.js';
import { EPP_PORTS, renderContext, validateRenderOptions, type K8sObject, type ManifestFiles, type RenderOptions, type RenderPart } from './render-options.js';

export { validateRenderOptions, type K8sObject, type ManifestFiles, type RenderOptions, type RenderPart } from './render-options.js';

/**
 * What the dashboard, alerts and EPP PodMonitor must match in this variant: the pool name the
 * EPP reports (KServe's is NAME-inference-pool) and the EPP pods' labels and metrics port (KServe's
 * scheduler pods carry KServe's labels and no port named `metrics`).
 */
export function monitoringOptions(o: RenderOptions): MonitoringOptions {
  const c = renderContext(o);
  return { name: o.name, namespace: o.namespace, pool: c.poolName, eppSelector: c.eppLabels, eppMetricsEndpoint: o.kserve ? { targetPort: EPP_PORTS.metrics } : { port: 'metrics' }, runbookBaseUrl: o.runbookBaseUrl };
}

/** `--monitoring`: Grafana dashboard ConfigMap, PrometheusRule, EPP PodMonitor (monitoring.ts). */
export const monitoringPart: RenderPart = (c, files) => {
  if (c.o.monitoring) files.set('monitoring.yaml', monitoringManifests(monitoringOptions(c.o)));
};

/**
 * The parts of a plain (GIE + Istio) deployment, in file order: namespace, the EPP (kvgate epp,
 * RBAC, config), the InferencePool, Gateway and HTTPRoute, Istio (mTLS to the EPP, body
 * forwarding, optional STRICT PeerAuthentication), the model servers (vLLM, PDB), their autoscaler
 * (HPA or KEDA on engine + gateway queue, autoscaling.ts), scrape monitors and NetworkPolicies. Another part (say, dashboards) is one more function in the list.
 */
export const STANDARD_PARTS: RenderPart[] = [namespacePart, eppConfigPart, eppPart, inferencePoolPart, gatewayPart, istioPart, peerAuthenticationPart, modelServerPart, autoscalingPart, scrapeMonitorsPart, networkPoliciesPart, monitoringPart];

/** The seed's KServe variant (`--kserve`): KServe creates the pool, workload and scheduler; kvgate is the scheduler. */
export const KSERVE_PARTS: RenderPart[] = [namespacePart, eppConfigPart, kservePart, peerAuthenticationPart, scrapeMonitorsPart, networkPoliciesPart, monitoringPart];

/**
 * The manifests of a cache-aware deployment as files of Kubernetes objects. `extraParts` run
 * after the built-in ones. Throws KvgateError(InvalidConfig) naming a bad option.
 */
export function renderManifests(o: RenderOptions, extraParts: RenderPart[] = []): ManifestFiles {
  validateRenderOptions(o);
  const c = renderContext(o);
  const files: ManifestFiles = new Map();
  for (const part of [...(o.kserve ? KSERVE_PARTS : STANDARD_PARTS), ...extraParts]) part(c, files);
  return files;
}

/**
 * kustomization.yaml for the rendered files. It sets no `namespace:`: every object names its own,
 * and the KServe EnvoyFilters belong in the gateway's namespace, not the workload's.
 */
export function kustomization(files: string[]): string {
  return stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: files });
}

export function toYaml(objs: K8sObject[]): string {
  // No YAML anchors for objects used twice (labels): plain YAML for every tool that reads it.
  return objs.map((o) => stringify(o, { aliasDuplicateObjects: false })).join('---\n');
}
