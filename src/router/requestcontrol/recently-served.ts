import type { EndpointState } from '../api.js';
import { DEFAULT_RECENTLY_SERVED_WINDOW_SECONDS } from '../plugins/data-plugins.js';

/**
 * Models the pool served through endpoints that have since left it, for `windowMs` after the last
 * of them left: a Kubernetes InferencePool lists only ready pods, so when every pod of a model is
 * restarting (a rollout, a crash loop) the model would otherwise look unknown and get 404 — which
 * OpenAI SDKs never retry — instead of 503 with Retry-After. At most `maxModels` are kept (the
 * oldest go first). A model dropped from the pool on purpose is 503 for the window, then 404.
 * The Director takes the window from the config (models-data-source's
 * `recentlyServedWindowSeconds`, plugins/data-plugins.ts).
 */
export class RecentlyServedModels {
  private readonly leftAt = new Map<string, number>();

  constructor(
    private readonly windowMs = DEFAULT_RECENTLY_SERVED_WINDOW_SECONDS * 1000,
    private readonly maxModels = 1_000,
  ) {}

  /** An endpoint left at `nowMs`: the models its last `/v1/models` answer and LoRA metric named. */
  endpointLeft(last: EndpointState, nowMs: number): void {
    const names = new Set<string>();
    for (const m of last.models ?? []) names.add(m.id);
    for (const m of last.metrics?.activeLoras ?? []) names.add(m);
    for (const m of last.metrics?.waitingLoras ?? []) names.add(m);
    for (const name of names) {
      this.leftAt.delete(name); // re-inserted last: the Map's order is the eviction order
      this.leftAt.set(name, nowMs);
    }
    while (this.leftAt.size > this.maxModels) this.leftAt.delete(this.leftAt.keys().next().value!);
  }

  /** Whether an endpoint that served `model` left the pool within the window before `nowMs`. */
  has(model: string, nowMs: number): boolean {
    const at = this.leftAt.get(model);
    if (at === undefined) return false;
    if (nowMs - at <= this.windowMs) return true;
    this.leftAt.delete(model);
    return false;
  }
}
