import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EndpointInfo } from '../../router/api.js';
import type { Logger } from '../../shared/logger.js';
import type { EndpointSource } from './endpoint-source.js';
import { loadKubeConfig, type LoadedKubeConfig } from './kube-config.js';
import { kubeConfigOf } from './kube-client.js';
import { Informer, type KubeList, type KubeObject } from './kube-informer.js';
import { labelSelector, parseInferencePool, POOL_GROUPS, type PoolGroup, type PoolSpec } from './inference-pool.js';
import { podEndpoints, type PodLike } from './pod-endpoints.js';

export interface KubernetesSourceOptions {
  poolName: string;
  namespace: string;
  /** `--kubeconfig`; otherwise $KUBECONFIG, the in-cluster service account, ~/.kube/config (see kube-config.ts). */
  kubeconfig?: string;
  /** Credentials already loaded (tests, or a caller sharing one config). */
  config?: LoadedKubeConfig;
  /** `--pool-group`: the InferencePool's API group. Default: `inference.networking.k8s.io` (v1), falling back to `inference.networking.x-k8s.io` (v1alpha2) where only that has the pool. */
  poolGroup?: PoolGroup;
  logger: Logger;
  /** First retry delay after an error (doubles up to 30 s). Default 500 ms. */
  backoffMs?: number;
  /** Full relist period. Default 10 min. */
  resyncMs?: number;
  /** Server-side watch timeout in seconds. Default 300. */
  watchTimeoutS?: number;
  /** Bound on one list request (its error names the API server URL). Default 30 s. */
  listTimeoutMs?: number;
}

type Pod = PodLike & KubeObject;
type PoolObject = KubeObject & { spec?: unknown };

/**
 * Endpoints of an InferencePool: the pool object and the Pods its selector matches, each kept by
 * an informer (list + watch, see kube-informer.ts). Ready Pods with an IP and no deletion
 * timestamp give one endpoint per target port (pod-endpoints.ts). A change of the pool's
 * selector re-watches the Pods; a change of its target ports re-derives the endpoints.
 *
 * Synced once the pool was found and its Pods listed; a missing or deleted pool, or a pool
 * that never had a usable spec, leaves it not synced with `lastError` saying why. Errors after the
 * first sync keep the last endpoint set (stale beats empty) and set `lastError`. A selector edit
 * keeps the old endpoint set, and the source synced, until the new selector's Pods are listed.
 *
 * An invalid edit (parseInferencePool refuses it) is treated as the API server treats one its CRD
 * schema refuses, which is what the GIE's EPP meets: the last valid spec stays in force. Its
 * selector's Pods keep being followed, the source stays synced (readiness and routing agree: both
 * go on), `lastError` names the bad field, the gauge `kvgate_inference_pool_spec_valid{name}` is 0
 * and `kvgate_inference_pool_invalid_spec_total{name}` counts each invalid version once
 * (registerMetrics). A pool whose first version read is invalid has no endpoints and is not synced.
 *
 * Throws KvgateError(InvalidConfig) at construction when no credentials can be loaded.
 */
export class KubernetesEndpointSource implements EndpointSource {
  readonly config: LoadedKubeConfig;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly poolInformer: Informer<PoolObject>;
  private podInformer?: Informer<Pod>;
  private group: PoolGroup;
  private pool?: PoolSpec;
  private poolProblem?: string;
  private onChange?: (endpoints: EndpointInfo[]) => void;
  private lastReported?: string;
  private podSwitch: Promise<void> = Promise.resolve();
  /**
   * A selector edit replaced a synced Pod informer and the new one has not listed yet: the old
   * endpoint set is still reported and the source stays synced (readiness must not blink
   * NOT_SERVING while the new set is computed).
   */
  private keepServing = false;
  private stopped = false;
  /** resourceVersion of the invalid pool version last warned and counted (relists re-deliver it). */
  private invalidVersion?: string;
  private readonly specValid: Gauge;
  private readonly invalidSpecTotal: Counter;

  constructor(private readonly o: KubernetesSourceOptions) {
    this.config = o.config ?? loadKubeConfig({ kubeconfig: o.kubeconfig });
    this.core = kubeConfigOf(this.config).makeApiClient(CoreV1Api);
    this.custom = kubeConfigOf(this.config).makeApiClient(CustomObjectsApi);
    this.group = o.poolGroup ?? 'inference.networking.k8s.io';
    const fieldSelector = `metadata.name=${o.poolName}`;
    // Created unregistered: registerMetrics adds them to the process's /metrics registry.
    const invalid = () => this.invalidVersion !== undefined;
    this.specValid = new Gauge({
      name: 'kvgate_inference_pool_spec_valid',
      help: "1 while the InferencePool's latest version is valid (or not read yet), 0 while it is invalid and its last valid spec, if any, stays in force.",
      labelNames: ['name'],
      registers: [],
      collect() {
        this.set({ name: o.poolName }, invalid() ? 0 : 1);
      },
    });
    this.invalidSpecTotal = new Counter({ name: 'kvgate_inference_pool_invalid_spec_total', help: 'InferencePool versions (edits) found invalid, each counted once.', labelNames: ['name'], registers: [] });
    this.invalidSpecTotal.labels(o.poolName).inc(0);
    this.poolInformer = new Informer<PoolObject>({
      what: `InferencePool ${o.namespace}/${o.poolName}`,
      config: this.config,
      list: () => this.listPools(fieldSelector),
      watchPath: () => `/apis/${this.group}/${POOL_GROUPS[this.group]}/namespaces/${o.namespace}/inferencepools`,
      selectors: { fieldSelector },
      onChange: (objects) => this.poolChanged(objects.get(o.poolName)),
      rbac: () => ({ resource: 'inferencepools', group: this.group, namespace: o.namespace }),
      logger: o.logger,
      backoffMs: o.backoffMs,
      resyncMs: o.resyncMs,
      watchTimeoutS: o.watchTimeoutS,
      listTimeoutMs: o.listTimeoutMs,
    });
  }

  get description(): string {
    return `InferencePool ${this.o.namespace}/${this.o.poolName}`;
  }

  get synced(): boolean {
    // `pool` is the last valid spec: an invalid edit leaves it (and readiness) in place, see above.
    return this.poolInformer.synced && this.pool !== undefined && ((this.podInformer?.synced ?? false) || this.keepServing);
  }

  /** Why the endpoint set is missing or stale (a 403 names the RBAC rule it lacks), else undefined. */
  get lastError(): string | undefined {
    return this.poolInformer.lastError ?? this.poolProblem ?? this.podInformer?.lastError;
  }

  /** Exposes `kvgate_inference_pool_spec_valid` and `kvgate_inference_pool_invalid_spec_total`. */
  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.specValid);
    registry.registerMetric(this.invalidSpecTotal);
  }

  /** The pool's spec in force: the last valid version read (API version, selector, target ports). */
  get poolSpec(): PoolSpec | undefined {
    return this.pool;
  }

  start(onChange: (endpoints: EndpointInfo[]) => void): void {
    this.onChange = onChange;
    this.o.logger.info({ pool: this.description, credentials: this.config.source, server: this.config.server }, 'kubernetes discovery starting');
    this.poolInformer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.poolInformer.stop();
    await this.podSwitch;
    await this.podInformer?.stop();
  }

  /** Lists the pool by name in the configured group; with no group given, v1 first, then v1alpha2. */
  private async listPools(fieldSelector: string): Promise<KubeList<PoolObject>> {
    const list = async (group: PoolGroup): Promise<KubeList<PoolObject>> => {
      try {
        return (await this.custom.listNamespacedCustomObject({ group, version: POOL_GROUPS[group], namespace: this.o.namespace, plural: 'inferencepools', fieldSelector })) as KubeList<PoolObject>;
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) {
          throw Object.assign(new Error(`the InferencePool CRD (${group}/${POOL_GROUPS[group]}) is not installed`), { notInstalled: true });
        }
        throw err;
      }
    };
    if (this.o.poolGroup) return list(this.o.poolGroup);
    const notInstalled = (err: unknown) => (err as { notInstalled?: boolean }).notInstalled === true;
    let v1: KubeList<PoolObject> | undefined;
    try {
      v1 = await list('inference.networking.k8s.io');
    } catch (err) {
      if (!notInstalled(err)) throw err;
    }
    if (v1 && (v1.items ?? []).length > 0) {
      this.group = 'inference.networking.k8s.io';
      return v1;
    }
    let alpha: KubeList<PoolObject> | undefined;
    try {
      alpha = await list('inference.networking.x-k8s.io');
    } catch (err) {
      if (!notInstalled(err)) throw err;
    }
    if (!v1 && !alpha) throw new Error('no InferencePool CRD is installed (neither inference.networking.k8s.io/v1 nor inference.networking.x-k8s.io/v1alpha2)');
    // Watch the version that has the pool; with neither, v1 (where a new pool will most likely appear).
    this.group = alpha && ((alpha.items ?? []).length > 0 || !v1) ? 'inference.networking.x-k8s.io' : 'inference.networking.k8s.io';
    return this.group === 'inference.networking.k8s.io' ? v1! : alpha!;
  }

  private poolChanged(obj: PoolObject | undefined): void {
    if (this.stopped) return;
    if (!obj) {
      const problem = `InferencePool ${this.o.namespace}/${this.o.poolName} not found (looked in ${this.o.poolGroup ?? 'inference.networking.k8s.io/v1 and inference.networking.x-k8s.io/v1alpha2'})`;
      if (this.pool) this.o.logger.warn({ pool: this.description }, 'InferencePool deleted: no endpoints until it is back');
      // A pool that never existed (a typo in --pool-name or --pool-namespace) is said once, not at
      // every relist: otherwise the only trace is "0 endpoints" and a readiness that never comes.
      else if (this.poolProblem !== problem) this.o.logger.warn({ pool: this.description, err: problem }, 'InferencePool not found: no endpoints until it is created');
      this.poolProblem = problem;
      this.pool = undefined;
      this.invalidVersion = undefined;
      this.switchPods(undefined);
      this.report(true);
      return;
    }
    const parsed = parseInferencePool(this.group, obj);
    if (typeof parsed === 'string') {
      // The last valid spec stays in force (see the class comment); said and counted once per version.
      const version = obj.metadata?.resourceVersion ?? '';
      this.poolProblem = `InferencePool ${this.o.namespace}/${this.o.poolName} is invalid: ${parsed}${this.pool ? '; the last valid spec stays in force' : ''}`;
      if (this.invalidVersion !== version) {
        this.invalidVersion = version;
        this.invalidSpecTotal.labels(this.o.poolName).inc();
        this.o.logger.error({ err: this.poolProblem }, 'kubernetes discovery');
      }
      return;
    }
    if (this.invalidVersion !== undefined) this.o.logger.info({ pool: this.description }, 'InferencePool valid again');
    this.invalidVersion = undefined;
    this.poolProblem = undefined;
    const before = this.pool;
    this.pool = parsed;
    if (!before || labelSelector(before.selector) !== labelSelector(parsed.selector) || !this.podInformer) {
      this.o.logger.info({ pool: this.description, apiVersion: parsed.apiVersion, selector: labelSelector(parsed.selector), targetPorts: parsed.targetPorts }, 'InferencePool read; watching its pods');
      this.switchPods(parsed);
    } else this.report();
  }

  /**
   * Replaces the Pod informer (a new selector, or none when the pool is gone). Until the new one
   * has listed, the last endpoint set stays (report() waits for the list) and, if the old informer
   * had synced, so does readiness (keepServing).
   */
  private switchPods(spec: PoolSpec | undefined): void {
    const old = this.podInformer;
    this.keepServing = spec !== undefined && ((old?.synced ?? false) || this.keepServing);
    this.podInformer = undefined;
    let next: Informer<Pod> | undefined;
    if (spec) {
      const selector = labelSelector(spec.selector);
      next = new Informer<Pod>({
        what: `pods ${selector} in ${this.o.namespace}`,
        config: this.config,
        list: () => this.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector: selector }) as Promise<KubeList<Pod>>,
        watchPath: () => `/api/v1/namespaces/${this.o.namespace}/pods`,
        selectors: { labelSelector: selector },
        onChange: () => {
          if (this.podInformer !== next) return;
          this.keepServing = false;
          this.report();
        },
        rbac: () => ({ resource: 'pods', group: '', namespace: this.o.namespace }),
        logger: this.o.logger,
        backoffMs: this.o.backoffMs,
        resyncMs: this.o.resyncMs,
        watchTimeoutS: this.o.watchTimeoutS,
        listTimeoutMs: this.o.listTimeoutMs,
      });
      this.podInformer = next;
    }
    this.podSwitch = this.podSwitch.then(async () => {
      await old?.stop();
      if (next && this.podInformer === next && !this.stopped) next.start();
    });
  }

  /** Reports the endpoint set when it changed (or always, with `force`), once the pods are listed. */
  private report(force = false): void {
    if (!this.onChange) return;
    let endpoints: EndpointInfo[];
    if (!this.pool) endpoints = [];
    else if (this.podInformer?.synced) endpoints = podEndpoints(this.podInformer.objects.values(), this.pool.targetPorts);
    else return;
    const key = JSON.stringify(endpoints);
    if (!force && key === this.lastReported) return;
    if (key === this.lastReported && !this.pool) return;
    this.lastReported = key;
    this.o.logger.info({ pool: this.description, endpoints: endpoints.length }, 'InferencePool endpoints');
    this.onChange(endpoints);
  }
}
