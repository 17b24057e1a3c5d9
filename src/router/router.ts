import type { DatastoreListener, EndpointState, PickResult, RequestUsage, RouteRequest, Router } from './api.js';
import type { EffectiveConfig } from './config/config.js';
import type { CycleContext, DataProducer, Filter, Picker, Plugin, SaturationDetector, Scorer } from './plugins/types.js';
import { pluginDefinition } from './plugins/registry.js';
import { ApproxPrefixCacheProducer, ApproxPrefixParams } from './plugins/producers/approx-prefix-cache-producer.js';
import { createPrecisePrefixProducer } from './plugins/producers/precise-prefix-cache-producer.js';
import { PrecisePrefixParams } from './plugins/producers/precise-prefix-params.js';
import { exactStateKnown, type KvEventsView, type PromptTokenizer } from './prefix/kv-events-view.js';
import { EstimateTokenizer } from '../shared/tokenizer/estimate.js';
import { PrefixCachingTokenizer } from '../shared/tokenizer/prefix-cache.js';
import { MemoryDatastore } from './datastore/datastore.js';
import { ScoredPick } from './scored-pick.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { noReadyEndpoints } from './requestcontrol/candidates.js';

export interface RouterOptions {
  config: EffectiveConfig;
  /** Random source for tie-breaks and random pickers (inject a seeded one in tests). */
  random?: () => number;
  /** Metrics older than this are unknown to scorers (EPP default 2 s). */
  staleAfterMs?: number;
  datastore?: MemoryDatastore;
  /**
   * Hears each plugin's time in a scheduling cycle (GIE's inference_extension_plugin_duration_seconds):
   * extension point (DataProducer, Filter, Scorer, Picker), plugin type and name, seconds. With it the
   * router reads the clock around every plugin call (~50 ns each); without it, never.
   */
  observePlugin?: (extensionPoint: string, pluginType: string, pluginName: string, seconds: number) => void;
  /**
   * The process's KV-event intake (the pool runtime's): with it, precise prefix plugins match
   * exactly, and consumers that prefer exact matches (`predicted-ttft-scorer`) get them.
   */
  kvEvents?: KvEventsView;
  /** Tokenizer for precise prefix matching; default the estimate tokenizer (kvgate sim's) behind a prefix cache. */
  tokenizer?: PromptTokenizer;
}

/** How pick() is called. */
export interface PickOptions {
  /**
   * Run the legacy admission check (shed a sheddable request when the saturation detector says
   * the pool is saturated). Default true; flow control turns it off, as GIE's flow control
   * replaces the legacy admission controller.
   */
  admission?: boolean;
}

interface Profile {
  name: string;
  filters: { name: string; type: string; plugin: Filter }[];
  scorers: { name: string; type: string; plugin: Scorer; weight: number }[];
  picker: Picker;
  pickerRef: { name: string; type: string };
}

/** Observations a router exposes for metrics (prefix hit ratio, scheduling time). */
export interface RouterStats {
  picks: number;
  prefixBlocksQueried: number;
  prefixBlocksMatched: number;
}

export class EndpointPicker implements Router {
  readonly datastore: MemoryDatastore;
  readonly config: EffectiveConfig;
  readonly stats: RouterStats = { picks: 0, prefixBlocksQueried: 0, prefixBlocksMatched: 0 };
  private readonly profile: Profile;
  /** The profile's scorer names, in order (the keys of each EndpointScore.byPlugin). */
  private readonly scorerNames: string[];
  private readonly saturation: SaturationDetector;
  private readonly random: () => number;
  private readonly staleAfterMs: number;
  private readonly producers: { name: string; type: string; plugin: DataProducer }[];
  private readonly observePlugin?: RouterOptions['observePlugin'];
  private readonly hookScorers: Scorer[];
  private readonly tokenizer?: PromptTokenizer;
  private readonly kvEvents?: KvEventsView;
  /** A producer needs the prompt's token ids (precise prefix matching): the lifecycle tokenizes once per request. */
  readonly needsTokenIds: boolean;
  /** The profile's TTFT-predicting scorer (null: none), found once. */
  private ttftScorer?: Scorer | null;

  constructor(opts: RouterOptions) {
    this.config = opts.config;
    this.random = opts.random ?? Math.random;
    this.staleAfterMs = opts.staleAfterMs ?? 2000;
    this.datastore = opts.datastore ?? new MemoryDatastore();
    this.kvEvents = opts.kvEvents;
    const instances = new Map<string, Plugin>();
    let tokenizer: PromptTokenizer | undefined;
    const env = (name: string) => ({
      name,
      kvEvents: opts.kvEvents,
      get tokenizer() {
        return (tokenizer ??= opts.tokenizer ?? new PrefixCachingTokenizer(new EstimateTokenizer()));
      },
    });
    for (const spec of opts.config.plugins) {
      const def = pluginDefinition(spec.type)!;
      instances.set(spec.name, def.create(def.parameters.parse(spec.parameters ?? {}), env(spec.name)));
    }
    const typeOf = (name: string) => opts.config.plugins.find((p) => p.name === name)?.type ?? name;
    const prof = opts.config.schedulingProfiles[0];
    const profile: Profile = { name: prof.name, filters: [], scorers: [], picker: undefined as unknown as Picker, pickerRef: { name: '', type: '' } };
    for (const ref of prof.plugins) {
      const p = instances.get(ref.pluginRef)!;
      if (p.kind === 'filter') profile.filters.push({ name: ref.pluginRef, type: typeOf(ref.pluginRef), plugin: p });
      else if (p.kind === 'scorer') profile.scorers.push({ name: ref.pluginRef, type: typeOf(ref.pluginRef), plugin: p, weight: ref.weight ?? 1 });
      else if (p.kind === 'picker') {
        profile.picker = p;
        profile.pickerRef = { name: ref.pluginRef, type: typeOf(ref.pluginRef) };
      }
    }
    this.observePlugin = opts.observePlugin;
    this.profile = profile;
    this.scorerNames = profile.scorers.map((s) => s.name);
    this.saturation = instances.get(opts.config.saturationDetector.pluginRef) as SaturationDetector;
    this.hookScorers = profile.scorers.map((s) => s.plugin).filter((s) => s.onPicked || s.onFirstToken || s.onComplete);

    this.producers = [...instances.entries()].filter((e): e is [string, DataProducer] => e[1].kind === 'producer').map(([name, plugin]) => ({ name, type: typeOf(name), plugin }));
    const needsPrefix = profile.scorers.some((s) => s.plugin.needsPrefix) || profile.picker.needsPrefix === true;
    // A consumer that requires exact matches (precise-prefix-cache-scorer), or prefers them while
    // this process has KV events (predicted-ttft-scorer), gets the precise producer — configured by
    // the precise scorer's parameters (llm-d's single-plugin form).
    const wishes = profile.scorers.map((s) => s.plugin.exactPrefix);
    const wantsExact = wishes.includes('required') || (opts.kvEvents !== undefined && wishes.includes('preferred'));
    const precise = (fallback?: ApproxPrefixParams) => {
      const scorer = opts.config.plugins.find((p) => p.type === 'precise-prefix-cache-scorer');
      const type = 'precise-prefix-cache-producer';
      return { name: type, type, plugin: createPrecisePrefixProducer(PrecisePrefixParams.parse(scorer?.parameters ?? {}), env(type), fallback) };
    };
    const approxAt = this.producers.findIndex((p) => p.type === 'approx-prefix-cache-producer');
    if (needsPrefix && wantsExact && approxAt >= 0 && this.producers.filter((p) => p.plugin.produces === 'prefix').length === 1) {
      // A configured approximate producer (the kvgate preset's, 2,048 blocks deep) becomes the
      // precise producer's per-endpoint fallback, with its parameters.
      const spec = opts.config.plugins.find((p) => p.name === this.producers[approxAt].name);
      this.producers[approxAt] = precise(ApproxPrefixParams.parse(spec?.parameters ?? {}));
    } else if (needsPrefix && !this.producers.some((p) => p.plugin.produces === 'prefix')) {
      // As the GIE injects a default producer for a consumed key: the precise one (above), or the
      // approximate one, configured by index parameters given on the prefix-cache-scorer (GIE ≤
      // v1.4 kept the index there).
      if (wantsExact) {
        this.producers.push(precise());
      } else {
        const scorer = opts.config.plugins.find((p) => p.type === 'prefix-cache-scorer');
        const params = Object.fromEntries(Object.entries(scorer?.parameters ?? {}).filter(([k]) => k in ApproxPrefixParams.shape));
        this.producers.push({ name: 'approx-prefix-cache-producer', type: 'approx-prefix-cache-producer', plugin: new ApproxPrefixCacheProducer(ApproxPrefixParams.parse(params)) });
      }
    }
    this.needsTokenIds = this.producers.some((p) => p.plugin.wantsTokenIds === true);
    if (this.needsTokenIds) this.tokenizer = env('').tokenizer;
    for (const { plugin } of this.producers) {
      const listener = plugin as Partial<DatastoreListener>;
      if (listener.endpointRemoved || listener.metricsUpdated) this.datastore.subscribe(listener);
    }
  }

  /**
   * `candidates`: the endpoints the request may go to (the lifecycle narrows them to those that
   * are healthy, in the subset hint and serve the model); by default every healthy endpoint.
   */
  pick(req: RouteRequest, nowMs: number, candidates: EndpointState[] = this.datastore.list().filter((e) => e.healthy), opts: PickOptions = {}): PickResult {
    if (candidates.length === 0) {
      throw noReadyEndpoints();
    }
    const ctx: CycleContext = { request: req, nowMs, random: this.random, staleAfterMs: this.staleAfterMs, allEndpoints: candidates };
    if (opts.admission !== false && req.priority < 0 && this.saturation.saturation(ctx, candidates) >= 1) {
      throw new KvgateError(ErrorCode.Shed, 'request dropped: the pool is saturated and the request is sheddable', {
        headers: { 'retry-after': '1', 'x-llm-d-request-dropped-reason': 'rejected-saturated' },
      });
    }
    const timed = this.observePlugin;
    let t = timed ? performance.now() : 0;
    const lap = (point: string, type: string, name: string) => {
      const now = performance.now();
      timed!(point, type, name, (now - t) / 1000);
      t = now;
    };
    for (const p of this.producers) {
      p.plugin.prepare(ctx, candidates);
      if (timed) lap('DataProducer', p.type, p.name);
    }

    let eps = candidates;
    for (const f of this.profile.filters) {
      eps = f.plugin.filter(ctx, eps);
      if (timed) lap('Filter', f.type, f.name);
      if (eps.length === 0) {
        throw new KvgateError(ErrorCode.Shed, `failed to find target endpoint: filter ${f.name} left no candidate`, {
          headers: { 'retry-after': '1', 'x-llm-d-request-dropped-reason': 'rejected-no-endpoints' },
        });
      }
    }
    const totals = new Array<number>(eps.length).fill(0);
    const clamped: number[][] = [];
    for (const s of this.profile.scorers) {
      const scores = s.plugin.score(ctx, eps);
      const own = new Array<number>(eps.length);
      for (let i = 0; i < eps.length; i++) {
        const v = Math.min(1, Math.max(0, Number.isFinite(scores[i]) ? scores[i] : 0));
        own[i] = v;
        totals[i] += s.weight * v;
      }
      clamped.push(own);
      if (timed) lap('Scorer', s.type, s.name);
    }
    const scored = eps.map((endpoint, i) => ({ endpoint, total: totals[i] }));
    const picked = this.profile.picker.pick(ctx, scored);
    if (timed) lap('Picker', this.profile.pickerRef.type, this.profile.pickerRef.name);
    const chosen = picked[0];
    // Fallbacks: whatever the picker returned, then every other candidate by score.
    const rest = scored
      .filter((s) => !picked.includes(s.endpoint))
      .sort((a, b) => b.total - a.total)
      .map((s) => s.endpoint);
    const ordered: EndpointState[] = [...picked, ...rest];

    const matchedBlocks = ctx.prefix?.matched.get(chosen.info.id) ?? 0;
    const uncached = Math.max(0, req.promptTokens - matchedBlocks * (ctx.prefix?.blockTokens ?? 0));
    this.datastore.dispatch(req.id, chosen.info.id, uncached, req.priority < 0);
    for (const p of this.producers) p.plugin.onPicked?.(ctx, chosen);
    if (ctx.prefix) {
      this.stats.prefixBlocksQueried += ctx.prefix.totalBlocks;
      this.stats.prefixBlocksMatched += matchedBlocks;
    }
    for (const s of this.hookScorers) s.onPicked?.(ctx, chosen);
    this.stats.picks++;
    const pm = ctx.prefix;
    const prefixMatch = pm ? { matchedBlocks, totalBlocks: pm.totalBlocks, blockTokens: pm.blockTokens, source: pm.source?.get(chosen.info.id) ?? 'approx' } : undefined;
    return new ScoredPick(req.id, ordered.map((e) => e.info), this.profile.name, prefixMatch, eps, totals, clamped, this.scorerNames, pm, picked.length);
  }

  /**
   * Whether this request's token ids would be used: a precise producer is configured and some
   * candidate has a live KV-event stream (else its matches are approximate and tokenizing is waste).
   */
  wantsTokenIds(candidates: readonly EndpointState[]): boolean {
    if (!this.needsTokenIds) return false;
    const view = this.kvEvents;
    if (!view) return false;
    for (const c of candidates) if (exactStateKnown(view.status(c.info.id))) return true;
    return false;
  }

  /**
   * The prompt's token ids for precise prefix matching (the configured tokenizer, with its prefix
   * cache). The lifecycle calls it once per request when `wantsTokenIds` says they would be used.
   */
  tokenize(text: string): ArrayLike<number> {
    return (this.tokenizer ?? new PrefixCachingTokenizer(new EstimateTokenizer())).encodeIds(text);
  }

  /**
   * The prefix match a pick of `req` would see now, without picking (no bookkeeping, no index
   * update): for tests and diagnostics — e.g. that router replicas fed by the same engines agree.
   */
  matchPrefix(req: RouteRequest, nowMs: number, candidates: EndpointState[] = this.datastore.list().filter((e) => e.healthy)) {
    const ctx: CycleContext = { request: req, nowMs, random: this.random, staleAfterMs: this.staleAfterMs, allEndpoints: candidates };
    for (const p of this.producers) p.plugin.prepare(ctx, candidates);
    return ctx.prefix;
  }

  /**
   * The profile's predictor of the TTFT an endpoint's load adds for `req` (a scorer that models
   * TTFT, as the kvgate preset's predicted-ttft-scorer), or undefined when no scorer predicts TTFT.
   */
  ttftPredictor(req: RouteRequest): ((ep: EndpointState, nowMs: number) => number | undefined) | undefined {
    const s = (this.ttftScorer ??= this.profile.scorers.find((x) => x.plugin.predictTtftMs)?.plugin ?? null);
    if (!s) return undefined;
    const random = this.random;
    const staleAfterMs = this.staleAfterMs;
    return (ep, nowMs) => s.predictTtftMs!({ request: req, nowMs, random, staleAfterMs, allEndpoints: [] }, ep);
  }

  onRetry(requestId: string, endpointId: string, _nowMs: number): void {
    this.datastore.move(requestId, endpointId);
  }

  onFirstToken(requestId: string, nowMs: number): void {
    const ep = this.datastore.endpointOf(requestId);
    this.datastore.firstToken(requestId);
    if (ep) for (const s of this.hookScorers) s.onFirstToken?.(requestId, ep, nowMs);
    if (ep) for (const p of this.producers) p.plugin.onFirstToken?.(requestId, ep, nowMs);
  }

  onComplete(requestId: string, nowMs: number, usage?: RequestUsage): void {
    this.datastore.release(requestId);
    for (const s of this.hookScorers) s.onComplete?.(requestId, nowMs, usage);
    for (const p of this.producers) p.plugin.onComplete?.(requestId);
  }

  onFailure(_requestId: string, _endpointId: string, _nowMs: number): void {
    // Health (ejection) is the ingress's concern; bookkeeping moves with onRetry / ends with onComplete.
  }

  /** Entries in the prefix indexes (for metrics and the memory benchmark). */
  get prefixIndexEntries(): number {
    let n = 0;
    for (const p of this.producers) n += (p.plugin as { entries?: number }).entries ?? 0;
    return n;
  }
}

export function createRouter(opts: RouterOptions): EndpointPicker {
  return new EndpointPicker(opts);
}
