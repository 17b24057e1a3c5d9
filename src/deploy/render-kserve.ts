import { eppArgs, RESTRICTED_SECURITY } from './render-epp.js';
import { kserveEnvoyFilters } from './render-istio.js';
import { ACCELERATORS, type RenderPart } from './render-options.js';

/**
 * The seed's KServe variant: an LLMInferenceService (KServe v0.15, serving.kserve.io/v1alpha1)
 * whose scheduler is kvgate — `spec.router.scheduler.template` replaces the container image and
 * arguments KServe would run and mounts the EndpointPickerConfig, which is how the scorer weights
 * the seed could not set (Known issue 1) get applied — plus the three EnvoyFilters in the
 * gateway's namespace and an HTTPRoute for /health and /v1/models (KServe routes only inference
 * paths). KServe owns the pool (NAME-inference-pool, v1alpha2), the workload and the scheduler's
 * RBAC.
 */
export const kservePart: RenderPart = (c, files) => {
  const acc = ACCELERATORS[c.o.accelerator];
  const gw = c.o.gatewayName ?? 'inference-gateway';
  const gwNs = c.o.gatewayNamespace ?? 'opendatahub';
  files.set('kserve.yaml', [
    {
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'LLMInferenceService',
      metadata: c.meta(c.o.name),
      spec: {
        model: { uri: `hf://${c.o.model}`, name: c.o.model },
        replicas: c.o.replicas,
        router: {
          gateway: {},
          route: {},
          scheduler: {
            template: {
              containers: [
                {
                  name: 'main',
                  image: c.o.eppImage,
                  args: eppArgs(c, 'inference.networking.x-k8s.io'),
                  securityContext: RESTRICTED_SECURITY,
                  volumeMounts: [
                    { name: 'kvgate-epp-config', mountPath: '/config', readOnly: true },
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                },
              ],
              volumes: [
                { name: 'kvgate-epp-config', configMap: { name: `${c.epp}-config` } },
                { name: 'tmp', emptyDir: {} },
              ],
            },
          },
        },
        template: {
          containers: [{ name: 'main', args: ['--enable-prefix-caching', '--enable-prompt-tokens-details'], env: [{ name: 'PYTHONHASHSEED', value: '0' }], resources: { requests: { ...acc.resources.requests }, limits: { ...acc.resources.limits } } }],
          nodeSelector: { ...acc.nodeSelector },
        },
      },
    },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: c.meta(c.o.name), spec: { maxUnavailable: 1, selector: { matchLabels: c.modelLabels } } },
  ]);
  files.set('envoyfilters.yaml', kserveEnvoyFilters(c));
  const prefix = `/${c.ns}/${c.o.name}`;
  const rule = (path: string) => ({
    matches: [{ path: { type: 'PathPrefix', value: `${prefix}${path}` } }],
    filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: path } } }],
    backendRefs: [{ group: 'inference.networking.x-k8s.io', kind: 'InferencePool', name: c.poolName }],
  });
  files.set('httproute-health-models.yaml', [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: c.meta(`${c.o.name}-health-models`), spec: { parentRefs: [{ name: gw, namespace: gwNs }], rules: [rule('/health'), rule('/v1/models')] } },
  ]);
};
