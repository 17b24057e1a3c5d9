import { EPP_PORTS, type K8sObject, type RenderContext, type RenderPart } from './render-options.js';

/** The workload namespace, with Istio sidecar injection on (the seed's step 3). */
export const namespacePart: RenderPart = (c, files) => {
  files.set('namespace.yaml', [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: c.ns, labels: { 'istio-injection': 'enabled', 'app.kubernetes.io/managed-by': 'kvgate' } } }]);
};

/** The EndpointPickerConfig, shipped as written (validated before rendering). */
export const eppConfigPart: RenderPart = (c, files) => {
  files.set('epp-config.yaml', [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: c.meta(`${c.epp}-config`, c.eppLabels), data: { 'epp.yaml': c.o.eppConfig } }]);
};

/**
 * `kvgate epp` arguments for a pool. Plain gRPC on the ext_proc port: the Istio sidecar next to
 * it carries the gateway's connection over mTLS (the seed had to force that with EnvoyFilters),
 * and `--trust-routing-headers` honours x-gateway-inference-objective as the GIE does.
 */
export function eppArgs(c: RenderContext, poolGroup: string): string[] {
  return [
    'epp',
    '--pool-name', c.poolName,
    '--pool-namespace', c.ns,
    '--pool-group', poolGroup,
    '--config-file', '/config/epp.yaml',
    '--grpc-port', String(EPP_PORTS.grpc),
    '--grpc-health-port', String(EPP_PORTS.health),
    '--metrics-port', String(EPP_PORTS.metrics),
    '--secure-serving=false',
    '--trust-routing-headers',
  ];
}

/** Restricted-profile container security: non-root (the image's uid 1000), read-only root, no capabilities. */
export const RESTRICTED_SECURITY = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The pod annotations that keep the gRPC health and metrics ports out of the sidecar: kubelet's
 * probes and an out-of-mesh Prometheus speak plain text, which a STRICT mTLS sidecar would refuse.
 */
export const EPP_POD_ANNOTATIONS = { 'traffic.sidecar.istio.io/excludeInboundPorts': `${EPP_PORTS.health},${EPP_PORTS.metrics}` };

export function eppContainer(c: RenderContext, poolGroup: string): Record<string, unknown> {
  const grpcProbe = (service: string, periodSeconds: number) => ({ grpc: { port: EPP_PORTS.health, service }, periodSeconds, failureThreshold: 3 });
  return {
    name: 'epp',
    image: c.o.eppImage,
    args: eppArgs(c, poolGroup),
    env: [
      { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ],
    ports: [
      { name: 'grpc', containerPort: EPP_PORTS.grpc },
      { name: 'grpc-health', containerPort: EPP_PORTS.health },
      { name: 'metrics', containerPort: EPP_PORTS.metrics },
    ],
    readinessProbe: grpcProbe('readiness', 2),
    livenessProbe: { ...grpcProbe('liveness', 10), initialDelaySeconds: 5 },
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
    securityContext: RESTRICTED_SECURITY,
    volumeMounts: [
      { name: 'config', mountPath: '/config', readOnly: true },
      // The root filesystem is read-only; --secure-serving without --cert-path writes its self-signed pair here.
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

/**
 * The endpoint picker: a ServiceAccount whose Role may only get/list/watch what discovery reads
 * (pods, InferencePools of both API groups, InferenceObjectives of the GIE and llm-d groups);
 * a single-replica Deployment (Recreate: the prefix index is per process, as the GIE chart does)
 * with gRPC health probes on the plain health port; its Service.
 */
export const eppPart: RenderPart = (c, files) => {
  files.set('epp-rbac.yaml', [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: c.meta(c.epp, c.eppLabels) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: c.meta(c.epp, c.eppLabels),
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['inference.networking.k8s.io', 'inference.networking.x-k8s.io'], resources: ['inferencepools'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['inference.networking.x-k8s.io', 'llm-d.ai'], resources: ['inferenceobjectives'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: c.meta(c.epp, c.eppLabels), roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: c.epp }, subjects: [{ kind: 'ServiceAccount', name: c.epp, namespace: c.ns }] },
  ]);
  const deployment: K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: c.meta(c.epp, c.eppLabels),
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: c.eppLabels },
      template: {
        metadata: { labels: c.eppLabels, annotations: EPP_POD_ANNOTATIONS },
        spec: {
          serviceAccountName: c.epp,
          // Longer than the EPP's drain: in-flight ext_proc streams finish (the GIE chart uses 130 s).
          terminationGracePeriodSeconds: 130,
          containers: [eppContainer(c, 'inference.networking.k8s.io')],
          volumes: [
            { name: 'config', configMap: { name: `${c.epp}-config` } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
  const service: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: c.meta(c.epp, c.eppLabels),
    spec: {
      selector: c.eppLabels,
      ports: [
        { name: 'grpc-ext-proc', port: EPP_PORTS.grpc, targetPort: EPP_PORTS.grpc, appProtocol: 'http2' },
        { name: 'grpc-health', port: EPP_PORTS.health, targetPort: EPP_PORTS.health, appProtocol: 'http2' },
        { name: 'http-metrics', port: EPP_PORTS.metrics, targetPort: EPP_PORTS.metrics },
      ],
    },
  };
  files.set('epp-deployment.yaml', [deployment, service]);
};
