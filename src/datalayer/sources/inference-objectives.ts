import { CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.js';
import { isPriority } from '../../router/priority.js';
import { describeKubeError, loadKubeConfig, type LoadedKubeConfig } from './kube-config.js';
import { kubeConfigOf } from './kube-client.js';
import { Informer, type KubeList, type KubeObject } from './kube-informer.js';

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
  backoffMs?: number;
  resyncMs?: number;
  watchTimeoutS?: number;
  /** How often to look again for the CRD when none is installed. Default 60 s. */
  crdPollMs?: number;
}

type ObjectiveObject = KubeObject & { spec?: { priority?: unknown; poolRef?: { name?: unknown; kind?: unknown } } };

/**
 * Watches the InferenceObjectives of one namespace and keeps `objectives` — the
 * objective-name → priority map the router reads for `x-gateway-inference-objective` — equal to
 * the objectives whose `spec.poolRef.name` is this pool (`spec.priority`, unset ⇒ 0; negative
 * ⇒ sheddable, as the GIE defines it), overlaid with `base`. The map is updated in place, so the
 * router sees changes without a restart. No CRD installed is not an error: only `base` applies,
 * and the watcher looks for the CRD again every `crdPollMs`.
 */
export class InferenceObjectiveWatcher {
  /** The live map (pass it to the router as its Objectives). */
  readonly objectives = new Map<string, number>();
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
    this.apply(new Map());
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
    let logged = false;
    while (!this.stopped) {
      let found: (typeof OBJECTIVE_APIS)[number] | undefined;
      let failed = false;
      for (const api of OBJECTIVE_APIS) {
        try {
          await this.custom.listNamespacedCustomObject({ ...api, namespace: this.o.namespace, plural: 'inferenceobjectives', limit: 1 });
          found = api;
          break;
        } catch (err) {
          if ((err as { code?: unknown }).code === 404) continue;
          this.discoveryError = describeKubeError(err, `list inferenceobjectives in ${this.o.namespace}`, this.config);
          failed = true;
          break;
        }
      }
      if (found) {
        this.discoveryError = undefined;
        this.crdAbsent = false;
        this.startInformer(found);
        return;
      }
      if (!failed) {
        this.crdAbsent = true;
        if (!logged) this.o.logger.info({ namespace: this.o.namespace }, 'no InferenceObjective CRD installed; only --objective / --objectives-file priorities apply');
        logged = true;
      } else this.o.logger.warn({ err: this.discoveryError }, 'InferenceObjectives: cannot list; retrying');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, failed ? (this.o.backoffMs ?? 500) * 4 : (this.o.crdPollMs ?? 60_000));
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
      logger: this.o.logger,
      backoffMs: this.o.backoffMs,
      resyncMs: this.o.resyncMs,
      watchTimeoutS: this.o.watchTimeoutS,
    });
    this.informer.start();
  }

  /** Recomputes the map from the CRs (this pool's only) and `base`, in place. */
  private apply(objects: ReadonlyMap<string, ObjectiveObject>): void {
    const next = new Map<string, number>();
    for (const [name, obj] of objects) {
      const ref = obj.spec?.poolRef;
      if (!ref || ref.name !== this.o.poolName || (ref.kind !== undefined && ref.kind !== 'InferencePool')) continue;
      const p = obj.spec?.priority;
      next.set(name, isPriority(p) ? p : 0);
    }
    for (const [name, p] of this.o.base ?? []) next.set(name, p);
    for (const name of this.objectives.keys()) if (!next.has(name)) this.objectives.delete(name);
    for (const [name, p] of next) this.objectives.set(name, p);
  }
}
