import type { EndpointInfo } from '../../router/api.js';
import type { Registry } from 'prom-client';

/**
 * Where a pool's endpoints come from: a static list, a watched file, or the Pods of a Kubernetes
 * InferencePool. The pool runtime starts exactly one source and applies every list it reports
 * (the whole current set each time, never a delta).
 */
export interface EndpointSource {
  /** Short description for logs and `/ready` ("static", "file /etc/eps.yaml", "InferencePool ns/name"). */
  readonly description: string;
  /** True once the first complete endpoint set has been reported (readiness gates on it). */
  readonly synced: boolean;
  /** The last error, while the source is failing; undefined when healthy. */
  readonly lastError?: string;
  /** Starts reporting endpoint sets; the first call of `onChange` may happen before this returns. */
  start(onChange: (endpoints: EndpointInfo[]) => void): void;
  stop(): Promise<void>;
  /** Exposes the source's own series, if it has any, on the process's /metrics registry. */
  registerMetrics?(registry: Registry): void;
}
