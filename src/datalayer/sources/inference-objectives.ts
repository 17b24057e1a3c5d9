import { CustomObjectsApi } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import { isPriority } from '../../router/priority.js';
import { describeKubeError, loadKubeConfig, type LoadedKubeConfig } from './kube-config.js';
import { kubeConfigOf } from './kube-client.js';
import { LIST_TIMEOUT_MS, withinDeadline } from './kube-deadline.js';
import { Informer, type KubeList, type KubeObject } from './kube-informer.js';
import { RetryLog } from './retry-log.js';

/**
 * API versions an InferenceObjective may be served under, tried in this order: the GIE's
 * `inference.networking.x-k8s.io/v1alpha2`, then llm-d-router's `llm-d.ai` group.
 */
export const OBJECTIVE_APIS = [
  { group: 'inference.networking.x-k8s.io', version: 'v1alpha2' },
  { group: 'llm-d.ai', version: 'v1alpha2' },
  { group: 'llm-d.ai', version: 'v1alpha1' },
] as const;

export interface ObjectiveWatcherOptions {
  poolName: string;
  namespace: string;
  kubeconfig?: string;
  config?: LoadedKubeConfig;
  /** Objectives from `--objective` / `--objectives-file`; they win over a CR of the same name. */
  base?: ReadonlyMap<string, number>;
  logger: Logger;
  /** First retry delay after a failed list (doubles, ±20 % jitter, up to maxBackoffMs). Default 500 ms. */
  backoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  resyncMs?: number;
  watchTimeoutS?: number;
  /** Bound on one list request (its error names the API server URL). Default 30 s. */
  listTimeoutMs?: number;
  /** How often to look again for the CRD when none is installed. Default 60 s. */
  crdPollMs?: number;
  /** A failure that keeps repeating is warned again at most this often. Default 10 min. */
  repeatWarnMs?: number;
}

type ObjectiveObject = KubeObject & { spec?: { priority?: unknown; poolRef?: { name?: unknown; kind?: unknown } } };

/**
 * Why an InferenceObjective cannot be used (the `reason` label of
 * `kvgate_inference_objective_invalid_total`):
 * - `missing_pool_ref`: no `spec.poolRef.name` (required by the GIE's CRD), so no pool can claim it;
 * - `invalid_pool_kind`: `spec.poolRef` names this pool with a `kind` other than `InferencePool`;
 * - `invalid_priority`: `spec.priority` is set but not an int32 (GIE types it `*int32`).
 * The CRD's schema rejects all three at admission; they reach kvgate only through a loose or
 * missing schema (hand-installed CRDs, the llm-d group's older versions).
 */
export const OBJECTIVE_INVALID_REASONS = ['missing_pool_ref', 'invalid_pool_kind', 'invalid_priority'] as const;
export type ObjectiveInvalidReason = (typeof OBJECTIVE_INVALID_REASONS)[number];

/**
 * What one InferenceObjective means to the pool `poolName`: its priority, `undefined` when it
 * belongs to another pool (not an error), or the reason it cannot be used.
 */
export function objectiveFor(obj: ObjectiveObject, poolName: string): { priority: number } | { invalid: ObjectiveInvalidReason } | undefined {
  const ref = obj.spec?.poolRef;
  if (!ref || typeof ref.name !== 'string' || ref.name === '') return { invalid: 'missing_pool_ref' };
  if (ref.name !== poolName) return undefined;
  if (ref.kind !== undefined && ref.kind !== 'InferencePool') return { invalid: 'invalid_pool_kind' };
  const p = obj.spec?.priority;
  if (p === undefined || p === null) return { priority: 0 };
  return isPriority(p) ? { priority: p } : { invalid: 'invalid_priority' };
}

/**
 * Watches the InferenceObjectives of one namespace and keeps `objectives` — the
 * objective-name → priority map the router reads for `x-gateway-inference-objective` — equal to
 * the objectives whose `spec.poolRef.name` is this pool (`spec.priority`, unset ⇒ 0; negative
 * ⇒ sheddable, as the GIE defines it), overlaid with `base`. The map is updated in place, so the
 * router sees changes without a restart. No CRD installed is not an error: only `base` applies,
 * and the watcher looks for the CRD again every `crdPollMs`. A list that fails otherwise (403, a
 * timeout) is retried with exponential backoff and warned once per distinct error (RetryLog), a
 * 403 naming the RBAC rule it lacks.
 *
 * An objective that cannot be used (see OBJECTIVE_INVALID_REASONS) is left out of the map, so a
 * request naming it gets the default priority as for an unknown name; each invalid version
 * (name + resourceVersion) is warned once and counted once in
 * `kvgate_inference_objective_invalid_total{reason}` (registerMetrics).
 */
export class InferenceObjectiveWatcher {
  /** The live map (pass it to the router as its Objectives). */
  readonly objectives = new Map<string, number>();
  /** Objectives found invalid, name → resourceVersion: each invalid version counts once, not at every relist. */
  private readonly invalidSeen = new Map<string, string>();
  private readonly invalidTotal = new Counter({
    name: 'kvgate_inference_objective_invalid_total',
    help: 'InferenceObjective versions (created or edited) that could not be used, by reason: missing_pool_ref, invalid_pool_kind, invalid_priority.',
    labelNames: ['reason'],
    registers: [],
  });
  /** The API version in use, once a CRD was found. */
  apiVersion?: string;
  private readonly config: LoadedKubeConfig;
  private readonly custom: CustomObjectsApi;
  private informer?: Informer<ObjectiveObject>;
  private stopped = false;
  private discovery?: Promise<void>;
  private wake?: () => void;
  private discoveryError?: string;
  private crdAbsent = false;

  constructor(private readonly o: ObjectiveWatcherOptions) {
    this.config = o.config ?? loadKubeConfig({ kubeconfig: o.kubeconfig });
    this.custom = kubeConfigOf(this.config).makeApiClient(CustomObjectsApi);
    // Every reason from 0, so an alert on increase() sees the first invalid objective.
    for (const reason of OBJECTIVE_INVALID_REASONS) this.invalidTotal.labels(reason).inc(0);
    this.apply(new Map());
  }

  /** Exposes `kvgate_inference_objective_invalid_total` on a Prometheus registry (the EPP's /metrics). */
  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.invalidTotal);
  }

  /** True once the objectives were listed, or no InferenceObjective CRD exists. */
  get synced(): boolean {
    return this.informer?.synced ?? this.crdAbsent;
  }

  get lastError(): string | undefined {
    return this.informer?.lastError ?? this.discoveryError;
  }

  start(): void {
    this.discovery = this.discover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.discovery;
    await this.informer?.stop();
  }

  private async discover(): Promise<void> {
    const what = `list inferenceobjectives in ${this.o.namespace}`;
    const retryLog = new RetryLog(this.o.logger, what, this.o.repeatWarnMs);
    const base = this.o.backoffMs ?? 500;
    let backoff = base;
    let logged = false;
    while (!this.stopped) {
      let found: (typeof OBJECTIVE_APIS)[number] | undefined;
      let failed = false;
      for (const api of OBJECTIVE_APIS) {
        try {
          const list = this.custom.listNamespacedCustomObject({ ...api, namespace: this.o.namespace, plural: 'inferenceobjectives', limit: 1 });
          await withinDeadline(list, this.o.listTimeoutMs ?? LIST_TIMEOUT_MS, this.config.server);
          found = api;
          break;
        } catch (err) {
          if ((err as { code?: unknown }).code === 404) continue;
          this.discoveryError = describeKubeError(err, what, this.config, { verb: 'list', resource: 'inferenceobjectives', group: api.group, namespace: this.o.namespace });
          failed = true;
          break;
        }
      }
      if (found) {
        retryLog.succeeded();
        this.discoveryError = undefined;
        this.crdAbsent = false;
        this.startInformer(found);
        return;
      }
      let delay = this.o.crdPollMs ?? 60_000;
      if (failed) {
        delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
        backoff = Math.min(this.o.maxBackoffMs ?? 30_000, backoff * 2);
        retryLog.failed(this.discoveryError!, delay);
      } else {
        // A 404 from every group: no CRD. Said once; the CRD is looked for again every crdPollMs.
        retryLog.succeeded();
        backoff = base;
        this.discoveryError = undefined;
        this.crdAbsent = true;
        if (!logged) this.o.logger.info({ namespace: this.o.namespace }, 'no InferenceObjective CRD installed; only --objective / --objectives-file priorities apply');
        logged = true;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private startInformer(api: (typeof OBJECTIVE_APIS)[number]): void {
    this.apiVersion = `${api.group}/${api.version}`;
    this.o.logger.info({ apiVersion: this.apiVersion, pool: this.o.poolName }, 'watching InferenceObjectives');
    this.informer = new Informer<ObjectiveObject>({
      what: `inferenceobjectives (${this.apiVersion}) in ${this.o.namespace}`,
      config: this.config,
      list: () => this.custom.listNamespacedCustomObject({ ...api, namespace: this.o.namespace, plural: 'inferenceobjectives' }) as Promise<KubeList<ObjectiveObject>>,
      watchPath: () => `/apis/${api.group}/${api.version}/namespaces/${this.o.namespace}/inferenceobjectives`,
      onChange: (objects) => this.apply(objects),
      rbac: () => ({ resource: 'inferenceobjectives', group: api.group, namespace: this.o.namespace }),
      logger: this.o.logger,
      backoffMs: this.o.backoffMs,
      maxBackoffMs: this.o.maxBackoffMs,
      resyncMs: this.o.resyncMs,
      watchTimeoutS: this.o.watchTimeoutS,
      listTimeoutMs: this.o.listTimeoutMs,
      repeatWarnMs: this.o.repeatWarnMs,
    });
    this.informer.start();
  }

  /** Recomputes the map from the CRs (this pool's only) and `base`, in place. */
  private apply(objects: ReadonlyMap<string, ObjectiveObject>): void {
    const next = new Map<string, number>();
    const invalidNow = new Set<string>();
    for (const [name, obj] of objects) {
      const r = objectiveFor(obj, this.o.poolName);
      if (r === undefined) continue;
      if ('priority' in r) {
        next.set(name, r.priority);
        continue;
      }
      invalidNow.add(name);
      const version = obj.metadata?.resourceVersion ?? '';
      if (this.invalidSeen.get(name) === version) continue;
      this.invalidSeen.set(name, version);
      this.invalidTotal.labels(r.invalid).inc();
      this.o.logger.warn({ objective: `${this.o.namespace}/${name}`, reason: r.invalid }, 'InferenceObjective cannot be used; requests naming it get the default priority');
    }
    for (const name of this.invalidSeen.keys()) if (!invalidNow.has(name)) this.invalidSeen.delete(name);
    for (const [name, p] of this.o.base ?? []) next.set(name, p);
    for (const name of this.objectives.keys()) if (!next.has(name)) this.objectives.delete(name);
    for (const [name, p] of next) this.objectives.set(name, p);
  }
}
