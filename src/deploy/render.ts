import { stringify } from 'yaml';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { monitoringManifests } from './monitoring.js';
import { autoscalingManifests, type AutoscalerKind } from './autoscaling.js';

export interface RenderOptions {
  name: string;
  namespace: string;
  model: string;
  replicas: number;
  accelerator: 'tpu-v6e' | 'nvidia-h100' | 'nvidia-l4';
  /** EndpointPickerConfig YAML text (from a preset or a file). */
  eppConfig: string;
  eppImage: string;
  modelServerImage?: string;
  kserve: boolean;
  gatewayClassName: string;
  /** Also monitoring.yaml: Grafana dashboard ConfigMap, PrometheusRule, EPP PodMonitor (src/deploy/monitoring.ts). */
  monitoring?: boolean;
  /** autoscaling.yaml: an HPA (default) or a KEDA ScaledObject on engine + gateway queue per replica (src/deploy/autoscaling.ts). */
  autoscaler?: AutoscalerKind;
  /** Prometheus the KEDA scaler queries. */
  prometheusUrl?: string;
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const ACCELERATORS = {
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

export function validateRenderOptions(o: RenderOptions): void {
  if (!DNS1123.test(o.name) || o.name.length > 50) throw new KvgateError(ErrorCode.InvalidConfig, `--name "${o.name}" must be a DNS-1123 label (lower-case letters, digits, '-'; ≤ 50 characters)`, { param: 'name' });
  if (!DNS1123.test(o.namespace) || o.namespace.length > 63) throw new KvgateError(ErrorCode.InvalidConfig, `--namespace "${o.namespace}" must be a DNS-1123 label`, { param: 'namespace' });
  if (!Number.isInteger(o.replicas) || o.replicas < 1) throw new KvgateError(ErrorCode.InvalidConfig, `--replicas must be a positive integer`, { param: 'replicas' });
  if (!(o.accelerator in ACCELERATORS)) throw new KvgateError(ErrorCode.InvalidConfig, `--accelerator "${o.accelerator}" is not one of ${Object.keys(ACCELERATORS).join(', ')}`, { param: 'accelerator' });
  if (!o.model) throw new KvgateError(ErrorCode.InvalidConfig, '--model is required', { param: 'model' });
}

/**
 * The manifests of a cache-aware deployment as files of Kubernetes objects: the EPP (kvgate epp)
 * with minimal RBAC and its EndpointPickerConfig, the InferencePool, Gateway and HTTPRoute, the
 * Istio pieces the seed needed (ext_proc body forwarding, mTLS to the EPP), the model servers with
 * prefix caching and KV events, the seed's four NetworkPolicies, a PDB, an autoscaler on engine +
 * gateway queue per replica (autoscaling.ts) and a PodMonitor; with `kserve`, an LLMInferenceService plus the patch that applies the scorer weights.
 */
export function renderManifests(o: RenderOptions): Map<string, K8sObject[]> {
  validateRenderOptions(o);
  const ns = o.namespace;
  const epp = `${o.name}-epp`;
  const app = { app: o.name };
  const eppLabels = { app: epp };
  const meta = (name: string, labels: Record<string, string> = {}) => ({ name, namespace: ns, labels: { 'app.kubernetes.io/part-of': o.name, 'app.kubernetes.io/managed-by': 'kvgate', ...labels } });
  const acc = ACCELERATORS[o.accelerator];
  const files = new Map<string, K8sObject[]>();

  files.set('epp-config.yaml', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(`${epp}-config`, eppLabels), data: { 'epp.yaml': o.eppConfig } }]);
  files.set('epp-rbac.yaml', [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(epp, eppLabels) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(epp, eppLabels),
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['inference.networking.k8s.io', 'inference.networking.x-k8s.io'], resources: ['inferencepools'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(epp, eppLabels), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: epp }, subjects: [{ kind: 'ServiceAccount', name: epp, namespace: ns }] },
  ]);
  const grpcProbe = (service: string) => ({ grpc: { port: 9003, service }, periodSeconds: 5, failureThreshold: 3 });
  files.set('epp-deployment.yaml', [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(epp, eppLabels),
      spec: {
        replicas: 1,
        selector: { matchLabels: eppLabels },
        template: {
          metadata: { labels: eppLabels },
          spec: {
            serviceAccountName: epp,
            containers: [
              {
                name: 'epp',
                image: o.eppImage,
                args: ['epp', '--grpc-port', '9002', '--grpc-health-port', '9003', '--metrics-port', '9090', '--pool-name', o.name, '--pool-namespace', ns, '--config-file', '/config/epp.yaml'],
                ports: [
                  { name: 'grpc', containerPort: 9002 },
                  { name: 'grpc-health', containerPort: 9003 },
                  { name: 'metrics', containerPort: 9090 },
                ],
                readinessProbe: grpcProbe('readiness'),
                livenessProbe: grpcProbe('liveness'),
                resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
                volumeMounts: [{ name: 'config', mountPath: '/config', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: `${epp}-config` } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(epp, eppLabels),
      spec: {
        selector: eppLabels,
        ports: [
          { name: 'grpc-ext-proc', port: 9002, targetPort: 9002, appProtocol: 'http2' },
          { name: 'grpc-health', port: 9003, targetPort: 9003 },
          { name: 'http-metrics', port: 9090, targetPort: 9090 },
        ],
      },
    },
  ]);
  files.set('inferencepool.yaml', [
    {
      apiVersion: 'inference.networking.k8s.io/v1',
      kind: 'InferencePool',
      metadata: meta(o.name),
      spec: { selector: { matchLabels: app }, targetPorts: [{ number: 8000 }], endpointPickerRef: { group: '', kind: 'Service', name: epp, port: { number: 9002 }, failureMode: 'FailClose' } },
    },
  ]);
  files.set('gateway.yaml', [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: meta(`${o.name}-gateway`), spec: { gatewayClassName: o.gatewayClassName, listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: meta(o.name),
      spec: {
        parentRefs: [{ name: `${o.name}-gateway` }],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: o.name }], timeouts: { request: '300s' } }],
      },
    },
  ]);
  files.set('istio.yaml', [
    // The EPP serves TLS with its own certificate: Istio must originate plain TLS to it, not mTLS.
    { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: meta(`${epp}-tls`), spec: { host: `${epp}.${ns}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'SIMPLE', insecureSkipVerify: true } } } },
    {
      // Forward request and response bodies to the endpoint picker (FULL_DUPLEX_STREAMED), as the seed had to patch by hand.
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata: meta(`${o.name}-ext-proc-body-forwarding`),
      spec: {
        workloadSelector: { labels: { 'gateway.networking.k8s.io/gateway-name': `${o.name}-gateway` } },
        configPatches: [
          {
            applyTo: 'HTTP_FILTER',
            match: { context: 'GATEWAY', listener: { filterChain: { filter: { name: 'envoy.filters.network.http_connection_manager' } } } },
            patch: {
              operation: 'MERGE',
              value: {
                name: 'envoy.filters.http.ext_proc',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
                  failure_mode_allow: false,
                  allow_mode_override: true,
                  processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'FULL_DUPLEX_STREAMED', response_body_mode: 'FULL_DUPLEX_STREAMED', request_trailer_mode: 'SEND', response_trailer_mode: 'SEND' },
                },
              },
            },
          },
        ],
      },
    },
  ]);
  const kvEvents = JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: 'tcp://*:5557', topic: 'kv-events' });
  files.set('model-server.yaml', [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(o.name, app),
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: app },
        template: {
          metadata: { labels: app },
          spec: {
            nodeSelector: { ...acc.nodeSelector },
            containers: [
              {
                name: 'vllm',
                image: o.modelServerImage ?? acc.image,
                args: ['--model', o.model, '--port', '8000', '--enable-prefix-caching', '--enable-prompt-tokens-details', '--kv-events-config', kvEvents, ...acc.extraArgs],
                env: [{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'token', optional: true } } }, { name: 'PYTHONHASHSEED', value: '0' }],
                ports: [{ name: 'http', containerPort: 8000 }, { name: 'kv-events', containerPort: 5557 }],
                readinessProbe: { httpGet: { path: '/health', port: 8000 }, periodSeconds: 10, failureThreshold: 3 },
                startupProbe: { httpGet: { path: '/health', port: 8000 }, periodSeconds: 10, failureThreshold: 180 },
                resources: { requests: { ...acc.resources.requests }, limits: { ...acc.resources.limits } },
              },
            ],
          },
        },
      },
    },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(o.name), spec: { maxUnavailable: 1, selector: { matchLabels: app } } },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: meta(o.name),
      spec: { selector: { matchLabels: app }, podMetricsEndpoints: [{ port: 'http', path: '/metrics', interval: '15s' }] },
    },
  ]);
  const scaling = autoscalingManifests({ name: o.name, namespace: ns, minReplicas: o.replicas, maxReplicas: o.replicas * 2, kind: o.autoscaler ?? 'hpa', prometheusUrl: o.prometheusUrl, labels: meta(o.name).labels });
  if (scaling.length) files.set('autoscaling.yaml', scaling);
  const netpol = (name: string, podSelector: Record<string, string>, spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(name), spec: { podSelector: { matchLabels: podSelector }, ...spec } });
  files.set('networkpolicies.yaml', [
    netpol(`allow-gateway-to-epp-${o.name}`, eppLabels, {
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [9002, 9003, 9090].map((port) => ({ protocol: 'TCP', port })) }],
      egress: [{ to: [{ podSelector: { matchLabels: app } }], ports: [{ protocol: 'TCP', port: 8000 }] }, { ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] }],
    }),
    netpol(`allow-gateway-to-vllm-${o.name}`, app, { policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 8000 }] }] }),
    netpol(`allow-vllm-egress-${o.name}`, app, { policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }, { protocol: 'TCP', port: 443 }] }] }),
    netpol(`allow-istio-control-plane-${o.name}`, {}, { policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } } }], ports: [{ protocol: 'TCP', port: 15012 }, { protocol: 'TCP', port: 15017 }] }] }),
  ]);
  if (o.kserve) {
    for (const f of ['epp-rbac.yaml', 'epp-deployment.yaml', 'inferencepool.yaml', 'gateway.yaml', 'model-server.yaml', 'autoscaling.yaml']) files.delete(f);
    files.set('kserve.yaml', [
      {
        apiVersion: 'serving.kserve.io/v1alpha1',
        kind: 'LLMInferenceService',
        metadata: meta(o.name),
        spec: {
          model: { uri: `hf://${o.model}`, name: o.model },
          replicas: o.replicas,
          router: { gateway: {}, route: {}, scheduler: {} },
          template: { containers: [{ name: 'main', args: ['--enable-prefix-caching', '--enable-prompt-tokens-details'], resources: { requests: { ...acc.resources.requests }, limits: { ...acc.resources.limits } } }], nodeSelector: { ...acc.nodeSelector } },
        },
      },
    ]);
  }
  if (o.monitoring) files.set('monitoring.yaml', monitoringManifests({ name: o.name, namespace: ns }));
  return files;
}

/** kustomization.yaml for the rendered files. */
export function kustomization(files: string[], o: RenderOptions): string {
  return stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', namespace: o.namespace, resources: files });
}

/**
 * KServe v0.15 cannot set scorer weights; this JSON patch mounts our ConfigMap into the
 * scheduler KServe creates and points it there (`kubectl patch deployment NAME-kserve-router-scheduler
 * -n NS --type json --patch-file kserve-scheduler-patch.json`, once KServe has created it).
 */
export function kserveSchedulerPatch(o: RenderOptions): string {
  return `${JSON.stringify(
    [
      { op: 'add', path: '/spec/template/spec/volumes/-', value: { name: 'kvgate-epp-config', configMap: { name: `${o.name}-epp-config` } } },
      { op: 'add', path: '/spec/template/spec/containers/0/volumeMounts/-', value: { name: 'kvgate-epp-config', mountPath: '/kvgate-config', readOnly: true } },
      { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--config-file=/kvgate-config/epp.yaml' },
    ],
    null,
    2,
  )}\n`;
}

export function toYaml(objs: K8sObject[]): string {
  return objs.map((o) => stringify(o)).join('---\n');
}
