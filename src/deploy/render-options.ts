import { KvgateError, ErrorCode } from '../shared/errors.js';
import { IMAGE_REFERENCE_RULE, isImageReference } from './image-reference.js';

export interface RenderOptions {
  name: string;
  namespace: string;
  model: string;
  replicas: number;
  accelerator: 'tpu-v6e' | 'nvidia-h100' | 'nvidia-l4';
  /** EndpointPickerConfig YAML text (from a preset or a file). */
  eppConfig: string;
  /** kvgate image for the endpoint picker (`--image`). */
  eppImage: string;
  modelServerImage?: string;
  /** The seed's KServe variant: LLMInferenceService with kvgate as its scheduler, plus the three EnvoyFilters. */
  kserve: boolean;
  gatewayClassName: string;
  /** PeerAuthentication STRICT for the namespace (`--strict-mtls`). */
  strictMtls?: boolean;
  /** The seed's four NetworkPolicies (default on). */
  networkPolicies?: boolean;
  /** KServe variant: the Gateway KServe routes through and its namespace (the seed: inference-gateway in opendatahub). */
  gatewayName?: string;
  gatewayNamespace?: string;
  /** Also monitoring.yaml: Grafana dashboard ConfigMap, PrometheusRule, EPP PodMonitor (src/deploy/monitoring.ts). */
  monitoring?: boolean;
  /** autoscaling.yaml: an HPA (default) or a KEDA ScaledObject on engine + gateway queue per replica, or none (src/deploy/autoscaling.ts). */
  autoscaler?: 'hpa' | 'keda' | 'none';
  /** Prometheus the KEDA scaler queries. */
  prometheusUrl?: string;
  /** With `monitoring`: absolute http(s) URL of the runbook page; alerts' runbook_url = it + `#alert` (MonitoringOptions.runbookBaseUrl). */
  runbookBaseUrl?: string;
}

/** A Kubernetes object as rendered: apiVersion, kind, metadata with name, the rest free. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;

/** Output file name → its objects, in file order. */
export type ManifestFiles = Map<string, K8sObject[]>;

/** Names and labels every part of a render shares, derived once from the options. */
export interface RenderContext {
  o: RenderOptions;
  ns: string;
  /** EPP Deployment/Service/ServiceAccount name. */
  epp: string;
  /** InferencePool name the EPP watches (KServe names its pool NAME-inference-pool). */
  poolName: string;
  /** Labels of the model-server pods (the InferencePool selector). */
  modelLabels: Record<string, string>;
  eppLabels: Record<string, string>;
  /** Standard metadata for an object in the workload namespace. */
  meta(name: string, labels?: Record<string, string>, namespace?: string): K8sObject['metadata'];
}

/** A piece of the render (the EPP, the model servers, Istio, …): adds its files. */
export type RenderPart = (c: RenderContext, files: ManifestFiles) => void;

export const EPP_PORTS = { grpc: 9002, health: 9003, metrics: 9090 } as const;
export const MODEL_PORT = 8000;
export const KV_EVENTS_PORT = 5557;

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * A DNS-1035 label: a DNS-1123 label that starts with a letter. Kubernetes requires it of Service
 * names (apimachinery's IsDNS1035Label, applied by the API server's Service validation), and the
 * render names its Services after `--name` (NAME-epp, NAME-vllm), so `--name 1a` rendered Services
 * the API server refuses.
 */
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Most model-server replicas: Kubernetes' replica counts are int32, and the HPA's maxReplicas is
 * twice `--replicas` (autoscaling.ts), so 2^30 − 1 is the most whose double still fits.
 */
export const MAX_RENDER_REPLICAS = 2 ** 30 - 1;

/** A DNS-1123 label: the pattern and at most 63 characters (apimachinery's IsDNS1123Label). */
function isDns1123Label(s: string): boolean {
  return DNS1123.test(s) && s.length <= 63;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An absolute http(s) URL with a host (what a Prometheus server address must be). */
function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

export const ACCELERATORS = {
  'tpu-v6e': {
    image: 'vllm/vllm-tpu:latest',
    nodeSelector: { 'cloud.google.com/gke-tpu-accelerator': 'tpu-v6e-slice', 'cloud.google.com/gke-tpu-topology': '2x2' },
    resources: { requests: { 'google.com/tpu': '4' }, limits: { 'google.com/tpu': '4' } },
    extraArgs: ['--tensor-parallel-size', '4'],
  },
  'nvidia-h100': {
    image: 'vllm/vllm-openai:latest',
    nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-h100-80gb' },
    resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } },
    extraArgs: [] as string[],
  },
  'nvidia-l4': {
    image: 'vllm/vllm-openai:latest',
    nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' },
    resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } },
    extraArgs: [] as string[],
  },
} as const;

/** Throws KvgateError(InvalidConfig) naming the first bad option. */
export function validateRenderOptions(o: RenderOptions): void {
  if (!DNS1035.test(o.name) || o.name.length > 50) throw new KvgateError(ErrorCode.InvalidConfig, `--name "${o.name}" must be a DNS-1035 label, as Kubernetes requires of the Services named after it (lower-case letters, digits, '-', starting with a letter; ≤ 50 characters)`, { param: 'name' });
  if (!isDns1123Label(o.namespace)) throw new KvgateError(ErrorCode.InvalidConfig, `--namespace "${o.namespace}" must be a DNS-1123 label (lower-case letters, digits, '-'; ≤ 63 characters)`, { param: 'namespace' });
  // A DNS-1123 label is at most 63 characters (RFC 1123); the regex alone let 64+ through, into a
  // namespace and a label value (the EnvoyFilters' gateway-name selector) the API server refuses.
  if (o.gatewayNamespace !== undefined && !isDns1123Label(o.gatewayNamespace)) throw new KvgateError(ErrorCode.InvalidConfig, `--gateway-namespace "${o.gatewayNamespace}" must be a DNS-1123 label (lower-case letters, digits, '-'; ≤ 63 characters)`, { param: 'gateway-namespace' });
  if (o.gatewayName !== undefined && !isDns1123Label(o.gatewayName)) throw new KvgateError(ErrorCode.InvalidConfig, `--gateway-name "${o.gatewayName}" must be a DNS-1123 label (lower-case letters, digits, '-'; ≤ 63 characters)`, { param: 'gateway-name' });
  if (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > MAX_RENDER_REPLICAS) throw new KvgateError(ErrorCode.InvalidConfig, `--replicas must be an integer from 1 to ${MAX_RENDER_REPLICAS}`, { param: 'replicas' });
  if (!(o.accelerator in ACCELERATORS)) throw new KvgateError(ErrorCode.InvalidConfig, `--accelerator "${o.accelerator}" is not one of ${Object.keys(ACCELERATORS).join(', ')}`, { param: 'accelerator' });
  if (!o.model) throw new KvgateError(ErrorCode.InvalidConfig, '--model is required', { param: 'model' });
  // GatewayClass names are DNS-1123 subdomains; an empty or odd one renders a Gateway no controller takes.
  if (!o.kserve && (!DNS1123_SUBDOMAIN.test(o.gatewayClassName) || o.gatewayClassName.length > 253)) throw new KvgateError(ErrorCode.InvalidConfig, `--gateway-class "${o.gatewayClassName}" must be a DNS-1123 subdomain (lower-case letters, digits, '-', '.')`, { param: 'gateway-class' });
  if (o.prometheusUrl !== undefined && !isHttpUrl(o.prometheusUrl)) throw new KvgateError(ErrorCode.InvalidConfig, `--prometheus-url "${o.prometheusUrl}" must be an http:// or https:// URL`, { param: 'prometheus-url' });
  if (o.runbookBaseUrl !== undefined) {
    if (!o.monitoring) throw new KvgateError(ErrorCode.InvalidConfig, '--runbook-base-url applies with --monitoring only (the alerts\' runbook_url); without it no alert is rendered', { param: 'runbook-base-url' });
    if (!isHttpUrl(o.runbookBaseUrl) || o.runbookBaseUrl.includes('#')) throw new KvgateError(ErrorCode.InvalidConfig, `--runbook-base-url "${o.runbookBaseUrl}" must be an absolute http:// or https:// URL without a #fragment (the page holding the runbooks, e.g. https://github.com/ORG/kvgate/blob/v0.1.0/docs/monitoring.md; each alert adds #its-name)`, { param: 'runbook-base-url' });
  }
  if (!isImageReference(o.eppImage)) throw new KvgateError(ErrorCode.InvalidConfig, `--image "${o.eppImage}" is not an image reference (${IMAGE_REFERENCE_RULE})`, { param: 'image' });
  if (o.modelServerImage !== undefined && !isImageReference(o.modelServerImage)) throw new KvgateError(ErrorCode.InvalidConfig, `--model-server-image "${o.modelServerImage}" is not an image reference (${IMAGE_REFERENCE_RULE})`, { param: 'model-server-image' });
}

export function renderContext(o: RenderOptions): RenderContext {
  const common = { 'app.kubernetes.io/part-of': o.name, 'app.kubernetes.io/managed-by': 'kvgate' };
  return {
    o,
    ns: o.namespace,
    epp: `${o.name}-epp`,
    poolName: o.kserve ? `${o.name}-inference-pool` : o.name,
    // KServe labels the pods it creates itself (the seed selects them with kserve.io/component=workload
    // and app.kubernetes.io/component=llminferenceservice-router-scheduler).
    modelLabels: o.kserve ? { 'app.kubernetes.io/name': o.name, 'kserve.io/component': 'workload' } : { app: o.name },
    eppLabels: o.kserve ? { 'app.kubernetes.io/name': o.name, 'app.kubernetes.io/component': 'llminferenceservice-router-scheduler' } : { app: `${o.name}-epp` },
    meta: (name, labels = {}, namespace = o.namespace) => ({ name, namespace, labels: { ...common, ...labels } }),
  };
}
