import { stringify } from 'yaml';
import type { K8sObject, RenderPart } from './render-options.js';

/** Which autoscaler `kvgate render` emits for the model servers (`--autoscaler`). */
export type AutoscalerKind = 'hpa' | 'keda' | 'none';

export interface AutoscalingOptions {
  /** The deployment (and InferencePool) name; the model servers' Deployment has this name. */
  name: string;
  namespace: string;
  minReplicas: number;
  maxReplicas: number;
  kind: AutoscalerKind;
  /** Waiting requests per replica to hold (engine queue + gateway queue). Default 5. */
  targetPerReplica?: number;
  /** Prometheus the KEDA scaler queries. */
  prometheusUrl?: string;
  /** Labels every object carries. */
  labels?: Record<string, string>;
  /** The InferencePool whose gateway queue counts (default: `name`). */
  poolName?: string;
}

/** The external metric the Prometheus adapter serves to the HPA. */
export const EXTERNAL_METRIC = 'kvgate_inference_pool_waiting_requests';

/** Default target: GIE's saturation queue-depth threshold, the engine queue a replica holds when saturated. */
export const DEFAULT_TARGET_PER_REPLICA = 5;

/**
 * PromQL for the pool's waiting requests: every model server's engine queue
 * (`vllm:num_requests_waiting`, scraped from the pods by the PodMonitor) plus the gateway queue
 * in front of them (`inference_extension_flow_control_queue_size` from every EPP / gateway
 * replica serving the pool). With flow control the engines hold only a few waiting requests
 * each (the saturation threshold) and the rest wait in the gateway, so the engine queue alone
 * stays flat while the backlog grows: only the sum says how far demand exceeds the fleet.
 */
export function poolWaitingQuery(name: string, namespace: string, poolName = name): string {
  const engines = `sum(vllm:num_requests_waiting{namespace="${namespace}",pod=~"${name}-[a-z0-9]+-[a-z0-9]+"})`;
  const gateway = `sum(inference_extension_flow_control_queue_size{namespace="${namespace}",inference_pool="${poolName}"})`;
  return `(${engines} or vector(0)) + (${gateway} or vector(0))`;
}

/**
 * The autoscaler of the model servers, scaling on waiting requests per replica (engine + gateway
 * queue, see poolWaitingQuery): an HPA on an External metric (`AverageValue`: the HPA divides
 * the pool's total by the current replicas) that the Prometheus adapter serves from
 * `prometheusAdapterRule`, or a KEDA ScaledObject with the Prometheus scaler (which creates its
 * own HPA). `none` emits nothing.
 */
export function autoscalingManifests(o: AutoscalingOptions): K8sObject[] {
  const target = String(o.targetPerReplica ?? DEFAULT_TARGET_PER_REPLICA);
  const metadata = { name: o.name, namespace: o.namespace, labels: { ...o.labels } };
  const scaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: o.name };
  if (o.kind === 'none') return [];
  if (o.kind === 'keda') {
    return [
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata,
        spec: {
          scaleTargetRef,
          minReplicaCount: o.minReplicas,
          maxReplicaCount: o.maxReplicas,
          // Accelerator nodes take minutes to arrive: scale up promptly, down slowly.
          advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: { stabilizationWindowSeconds: 60 }, scaleDown: { stabilizationWindowSeconds: 600 } } } },
          triggers: [
            {
              type: 'prometheus',
              metricType: 'AverageValue',
              metadata: { serverAddress: o.prometheusUrl ?? 'http://prometheus-operated.monitoring.svc:9090', query: poolWaitingQuery(o.name, o.namespace, o.poolName), threshold: target },
            },
          ],
        },
      },
    ];
  }
  return [
    {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata,
      spec: {
        scaleTargetRef,
        minReplicas: o.minReplicas,
        maxReplicas: o.maxReplicas,
        metrics: [{ type: 'External', external: { metric: { name: EXTERNAL_METRIC, selector: { matchLabels: { inference_pool: o.poolName ?? o.name } } }, target: { type: 'AverageValue', averageValue: target } } }],
        // Accelerator nodes take minutes to arrive: scale up promptly, down slowly.
        behavior: { scaleUp: { stabilizationWindowSeconds: 60 }, scaleDown: { stabilizationWindowSeconds: 600 } },
      },
    },
  ];
}

/**
 * The Prometheus adapter rule (its `rules.external` entry) that serves EXTERNAL_METRIC to the HPA
 * from poolWaitingQuery. It belongs in the adapter's own configuration (its Helm values or
 * ConfigMap), so `kvgate render` writes it beside the manifests rather than among them.
 */
export function prometheusAdapterRule(name: string, namespace: string): string {
  return stringify({
    rules: {
      external: [
        {
          seriesQuery: `inference_extension_flow_control_queue_size{namespace="${namespace}",inference_pool="${name}"}`,
          resources: { overrides: { namespace: { resource: 'namespace' } } },
          name: { as: EXTERNAL_METRIC },
          metricsQuery: `label_replace(${poolWaitingQuery(name, namespace)}, "inference_pool", "${name}", "", "")`,
        },
      ],
    },
  });
}

/** The render part: autoscaling.yaml for the model servers (standard deployments; KServe owns its workload). */
export const autoscalingPart: RenderPart = (c, files) => {
  const objs = autoscalingManifests({
    name: c.o.name,
    namespace: c.ns,
    poolName: c.poolName,
    minReplicas: c.o.replicas,
    maxReplicas: c.o.replicas * 2,
    kind: c.o.autoscaler ?? 'hpa',
    prometheusUrl: c.o.prometheusUrl,
    labels: c.meta(c.o.name).labels,
  });
  if (objs.length) files.set('autoscaling.yaml', objs);
};
