import type { EndpointInfo, EndpointState } from '../api.js';
import { RecentlyServedModels } from './recently-served.js';
import { recentlyServedWindowMs } from '../plugins/data-plugins.js';
import type { EndpointPicker } from '../router.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { RequestHandle } from './request-handle.js';
import { modelNotFound, noReadyEndpoints, servesModel } from './candidates.js';
import type { DirectorOptions, InferenceInput, LifecycleHost } from './types.js';
import { FlowControl } from '../flowcontrol/index.js';

const BOOT = Math.random().toString(36).slice(2, 8);

/**
 * The request lifecycle, once, for every ingress (GIE calls it the Director): a handle per
 * request carries it through admit → pick → retry → first byte → complete / fail. It owns the
 * model check (only endpoints serving the requested model are candidates), in-flight bookkeeping
 * under kvgate's own unique ids (a client's x-request-id is only echoed and logged), usage
 * accounting, the EPP metrics and the access log. The gateway and the ext_proc server are
 * protocol adapters over it, so both answer the same request the same way.
 */
export class Director implements LifecycleHost {
  readonly router: EndpointPicker;
  readonly opts: DirectorOptions;
  readonly logger: Logger;
  readonly now: () => number;
  /** Set while shutting down: new requests get 503 `rejected-shutting-down`. */
  draining = false;
  /** The gateway queue and the dispatch gate (with flow control off, the gate still sizes per-endpoint caps). */
  readonly flow: FlowControl;
  private counter = 0;
  /** Window from the config (models-data-source's recentlyServedWindowSeconds, default 5 min). */
  private readonly recentlyServed: RecentlyServedModels;
  private open = 0;

  constructor(opts: DirectorOptions) {
    this.opts = opts;
    this.router = opts.router;
    this.logger = opts.logger ?? silentLogger();
    this.now = opts.now ?? (() => performance.now());
    this.recentlyServed = new RecentlyServedModels(recentlyServedWindowMs(this.router.config));
    const flow = (this.flow = new FlowControl(opts.flowControl ?? {}, this.router.config, this.now));
    // Capacity may free whenever metrics arrive or an endpoint comes back: run the dispatch cycle.
    this.router.datastore.subscribe({
      metricsUpdated(id, m) {
        flow.gate.observe(id, m);
        flow.queue.pump();
      },
      healthChanged: () => flow.queue.pump(),
      endpointRemoved: (id, last) => {
        flow.gate.forget(id);
        if (last) this.recentlyServed.endpointLeft(last, this.now());
      },
    });
    opts.metrics?.attachFlowControl(flow, this.router.datastore, this.now);
  }

  /** Requests begun and not yet finished. */
  get inFlight(): number {
    return this.open;
  }

  /** Starts a request's lifecycle; `schedule()` on the handle admits and picks. */
  begin(input: InferenceInput): RequestHandle {
    this.open++;
    return new RequestHandle(this, input, `${BOOT}-${(this.counter++).toString(36)}`, () => this.open--);
  }

  /**
   * Candidate endpoints for `model`: healthy, inside `subset` when given, and serving the model
   * by their `/v1/models` (base models and LoRA adapters) or vLLM's LoRA metric. Endpoints whose
   * model list is not known yet are used only when no known endpoint serves it.
   * When none is eligible, see `unavailable`: 503 NoCandidates or 404 ModelNotFound.
   */
  candidates(model: string, subset?: string[]): EndpointState[] {
    // One pass, no intermediate arrays: this runs for every request.
    const allowed = subset !== undefined ? new Set(subset) : undefined;
    const serving: EndpointState[] = [];
    let unknown: EndpointState[] | undefined;
    for (const e of this.router.datastore.list()) {
      if (!e.healthy || (allowed && !allowed.has(e.info.id) && !allowed.has(e.info.host))) continue;
      if (servesModel(e, model)) serving.push(e);
      else if (serving.length === 0 && e.models === undefined) (unknown ??= []).push(e);
    }
    if (serving.length > 0) return serving;
    if (unknown) return unknown;
    throw this.unavailable(model);
  }

  /**
   * Why no endpoint is eligible for `model`, one rule for both ingresses and any subset hint.
   * 503 NoCandidates (`rejected-no-endpoints`, Retry-After) when some endpoint of the pool — ready
   * or not, inside the subset or not — is known to serve the model (its last `/v1/models` answer,
   * kept while it is ejected, or its LoRA metric), or when that cannot be ruled out (an endpoint
   * whose list is not known yet, or no endpoint at all): the model exists and comes back with its
   * replica, so clients should retry (OpenAI SDKs retry 503, never 404), and GIE answers an empty
   * subset 503 too. 404 ModelNotFound only when every endpoint's list is known and none serves it;
   * a model an endpoint answered 404 for is already gone from that endpoint's list (modelMissing).
   * A model whose endpoints all left the pool in the last minutes (an InferencePool lists ready
   * pods only: a rollout or a crash loop) is still 503 (recently-served.ts).
   */
  private unavailable(model: string): KvgateError {
    const all = this.router.datastore.list();
    const unknown = all.length > 0 && all.every((e) => e.models !== undefined && !servesModel(e, model));
    if (unknown && !this.recentlyServed.has(model, this.now())) return modelNotFound(model);
    return noReadyEndpoints();
  }

  /**
   * A request without a body (GET /v1/models through Envoy, say): a uniformly random ready
   * endpoint, no scoring, as the GIE EPP does. Throws as `candidates` would.
   */
  routeHeaderOnly(subset: string[] | undefined, random: () => number): EndpointInfo {
    const all = this.router.datastore.list();
    if (all.length === 0 && subset === undefined) throw new KvgateError(ErrorCode.Internal, 'no pods available in datastore', { status: 500 });
    let eps = all.filter((e) => e.healthy);
    if (subset !== undefined) eps = eps.filter((e) => subset.includes(e.info.id) || subset.includes(e.info.host));
    if (eps.length === 0) {
      throw noReadyEndpoints('failed to find endpoint candidates');
    }
    return eps[Math.floor(random() * eps.length)].info;
  }

  /**
   * The union of the models of the pool's endpoints, as vLLM lists them (`id`, `object`, `root`,
   * `parent`, `max_model_len`, …), sorted by id; a healthy endpoint's entry wins, else the first.
   * An ejected endpoint's last known models stay listed: while it is down their requests get 503
   * with Retry-After (see `unavailable`), which says the model exists, and clients that discover
   * models through /v1/models (vLLM's benchmark scripts, chat front ends) would otherwise forget a
   * model over a brief outage. A model an endpoint answered 404 for has left its list, so it goes.
   */
  servedModels(): Record<string, unknown>[] {
    const byId = new Map<string, Record<string, unknown>>();
    const all = this.router.datastore.list();
    for (const healthy of [true, false]) {
      for (const e of all) {
        if (e.healthy !== healthy) continue;
        for (const m of e.models ?? []) if (!byId.has(m.id)) byId.set(m.id, m.raw);
      }
    }
    return [...byId.keys()].sort().map((id) => byId.get(id)!);
  }
}
