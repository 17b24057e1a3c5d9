import { KV_EVENTS_PORT_ANNOTATION } from '../datalayer/sources/pod-endpoints.js';
import { ACCELERATORS, EPP_PORTS, KV_EVENTS_PORT, MODEL_PORT, type K8sObject, type RenderPart } from './render-options.js';

/** vLLM's KV-event publisher (ZMQ), which the `kvgate.io/kv-events-port` annotation points consumers at. */
export function kvEventsConfig(): string {
  return JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: `tcp://*:${KV_EVENTS_PORT}`, topic: 'kv-events' });
}

/**
 * vLLM replicas with prefix caching, prompt-token details (for cached_tokens in usage) and KV
 * events; a headless Service so the mesh knows the pods (the EPP's metrics scrapes then ride
 * mTLS too); a PodDisruptionBudget (one replica down at a time). Their autoscaler is
 * autoscaling.ts's part.
 */
export const modelServerPart: RenderPart = (c, files) => {
  const acc = ACCELERATORS[c.o.accelerator];
  files.set('model-server.yaml', [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: c.meta(c.o.name, c.modelLabels),
      spec: {
        replicas: c.o.replicas,
        selector: { matchLabels: c.modelLabels },
        template: {
          metadata: { labels: c.modelLabels, annotations: { [KV_EVENTS_PORT_ANNOTATION]: String(KV_EVENTS_PORT) } },
          spec: {
            nodeSelector: { ...acc.nodeSelector },
            containers: [
              {
                name: 'vllm',
                image: c.o.modelServerImage ?? acc.image,
                args: ['--model', c.o.model, '--port', String(MODEL_PORT), '--enable-prefix-caching', '--enable-prompt-tokens-details', '--kv-events-config', kvEventsConfig(), ...acc.extraArgs],
                env: [
                  { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'token', optional: true } } },
                  // Stable block hashes across replicas and restarts (vLLM hashes with Python's hash seed).
                  { name: 'PYTHONHASHSEED', value: '0' },
                ],
                ports: [
                  { name: 'http', containerPort: MODEL_PORT },
                  { name: 'kv-events', containerPort: KV_EVENTS_PORT },
                ],
                readinessProbe: { httpGet: { path: '/health', port: MODEL_PORT }, periodSeconds: 10, failureThreshold: 3 },
                startupProbe: { httpGet: { path: '/health', port: MODEL_PORT }, periodSeconds: 10, failureThreshold: 180 },
                resources: { requests: { ...acc.resources.requests }, limits: { ...acc.resources.limits } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: c.meta(`${c.o.name}-vllm`, c.modelLabels),
      spec: {
        clusterIP: 'None',
        selector: c.modelLabels,
        ports: [
          { name: 'http', port: MODEL_PORT, targetPort: MODEL_PORT },
          { name: 'tcp-kv-events', port: KV_EVENTS_PORT, targetPort: KV_EVENTS_PORT },
        ],
      },
    },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: c.meta(c.o.name), spec: { maxUnavailable: 1, selector: { matchLabels: c.modelLabels } } },
  ]);
};

/**
 * Prometheus Operator scrape objects: a PodMonitor for the model servers' /metrics and a
 * ServiceMonitor for the EPP's (a PodMonitor under KServe, which names the scheduler's Service
 * itself; none with --monitoring, whose part has the EPP's). Dashboards and alerts: monitoring.ts.
 */
export const scrapeMonitorsPart: RenderPart = (c, files) => {
  const objs: (K8sObject | undefined)[] = [
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: c.meta(`${c.o.name}-vllm`),
      spec: {
        selector: { matchLabels: c.modelLabels },
        // KServe's vLLM serves HTTPS with a KServe-issued certificate (the seed: curl -k https://localhost:8000/metrics).
        podMetricsEndpoints: [c.o.kserve ? { targetPort: MODEL_PORT, path: '/metrics', interval: '15s', scheme: 'https', tlsConfig: { insecureSkipVerify: true } } : { port: 'http', path: '/metrics', interval: '15s' }],
      },
    },
    // --monitoring brings its own EPP PodMonitor: one scrape of the EPP, not two.
    c.o.monitoring
      ? undefined
      : c.o.kserve
      ? { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', metadata: c.meta(c.epp), spec: { selector: { matchLabels: c.eppLabels }, podMetricsEndpoints: [{ targetPort: EPP_PORTS.metrics, path: '/metrics', interval: '10s' }] } }
      : { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: c.meta(c.epp), spec: { selector: { matchLabels: c.eppLabels }, endpoints: [{ port: 'http-metrics', path: '/metrics', interval: '10s' }] } },
  ];
  files.set('scrape-monitors.yaml', objs.filter((x): x is K8sObject => x !== undefined));
};
