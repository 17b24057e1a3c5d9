import type { Datastore, EndpointScore } from '../router/api.js';
import { timePerOutputToken } from '../router/observability/time-per-output-token.js';
import { DECISION_REASONS, zeroReasons, type DecisionReason, type FleetEvent, type FleetSnapshot, type HistoryPoint, type Percentiles, type RecentRequest, type ReplicaSnapshot, type ScoreRow } from './fleet-snapshot.js';
import { SecondCounters } from './second-counters.js';
import { WindowedHistogram } from './windowed-histogram.js';

export interface FleetRecorderOptions {
  /** InferencePool / gateway name shown on the dashboard. Default "kvgate". */
  pool?: string;
  /** Last requests kept with their scores. Default 64. */
  recent?: number;
  /** History kept, and the window of the headline TTFT/TPOT percentiles, in seconds. Default 300. */
  windowS?: number;
  /** Trailing window of each history point's percentiles, seconds. Default 10. */
  pointWindowS?: number;
  /** Window of `decisionsPerSecond`, seconds. Default 10. */
  rateWindowS?: number;
  /** Half-life of the per-replica prefix hit rate, seconds. Default 60. */
  hitRateHalfLifeS?: number;
  /** Candidates' scores kept per request, best first. Default 8. */
  scoresPerRequest?: number;
  /** Gateway queue depth per endpoint id (flow control); absent = 0 everywhere. */
  gatewayQueue?: () => ReadonlyMap<string, number>;
  /** Wall clock (Unix ms). Default Date.now. */
  now?: () => number;
}

/** One routing decision, as the request lifecycle reports it right after `Router.pick`. */
export interface DecisionInput {
  requestId: string;
  /** The chosen endpoint (`PickResult.endpoints[0].id`). */
  endpointId: string;
  /** `PickResult.prefixMatch`: matched > 0 makes the reason `prefix-hit`, otherwise `load`. */
  prefixMatch?: { matchedBlocks: number; totalBlocks: number };
  /**
   * The candidates' scores (`PickResult.scores`). That field is a getter that builds objects, so pass
   * `() => pick.scores`: it is called only for requests a viewer is shown, once, within the next second.
   */
  scores?: readonly EndpointScore[] | (() => readonly EndpointScore[]);
}

/** How one request ended, as the lifecycle reports it when the response is done (any outcome). */
export interface CompletionInput {
  /**
   * The endpoint that served the last attempt; absent for a request answered before reaching any
   * (refused before its pick: unknown model, invalid body, shed, shutting down). Such a request
   * counts in the totals and the per-second completions and errors — every request the ingress
   * answered, as `inference_objective_request_total` counts them — and in no replica's row.
   */
  endpointId?: string;
  /** HTTP status sent to the client (499 when the client went away). */
  status: number;
  /** Set when the request failed, also after a 200 went out (a stream cut short): an error like a status ≥ 400. */
  errorCode?: string;
  /**
   * false for a non-streamed response: it arrives whole, so its time after the first byte says
   * nothing about decoding and it gives no TPOT (as `inference_objective_request_tpot_seconds`).
   * Its TTFT (arrival to first byte) is recorded as any other, as
   * `inference_objective_request_ttft_seconds` records it. Default true.
   */
  stream?: boolean;
  /** Time to first response byte, from request arrival (ms). */
  ttftMs?: number;
  /** Time per output token (ms); derived from e2eMs, ttftMs and completionTokens when absent, as vLLM does: (e2e − ttft) ÷ (tokens − 1). */
  tpotMs?: number;
  /** Request arrival to last byte (ms). */
  e2eMs?: number;
  /** Usage reported by the model server. */
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
}

/** A RecentRequest as held in the ring: its score rows built only when a snapshot reads them. */
interface RecentEntry extends Omit<RecentRequest, 'scores'> {
  scores: readonly EndpointScore[] | (() => readonly EndpointScore[]) | undefined;
  rows: ScoreRow[] | undefined;
}

interface EndpointStats {
  requests: number;
  errors: number;
  promptTokens: number;
  cachedTokens: number;
  /** Exponentially decayed sums for the hit rate. */
  decayedPrompt: number;
  decayedCached: number;
  lastMs: number;
}

const CH_COMPLETIONS = DECISION_REASONS.length;
const CH_ERRORS = CH_COMPLETIONS + 1;
const REASON_CHANNEL: Record<DecisionReason, number> = { 'prefix-hit': 0, load: 1, fallback: 2, shed: 3 };

/**
 * Records what the router decided and how requests ended, and reads endpoint state from the
 * router's datastore, to build `FleetSnapshot`s for the live dashboard and `kvgate top`.
 *
 * Hot path (`recordDecision`, `recordRetry`, `recordShed`, `recordCompletion`): a few array writes,
 * no allocation besides what the caller passes — measured by `npm run bench:fleet-recorder`.
 * Memory is bounded: a ring of `recent` requests, per-second counters and latency histograms for
 * `windowS` seconds, `windowS` history points, one small record per endpoint.
 *
 * `start()` samples a history point every second and hands `{snapshot, point}` to subscribers;
 * `stop()` ends that. The recorder does no I/O.
 */
export class FleetRecorder {
  readonly pool: string;
  private readonly now: () => number;
  private readonly ring: RecentEntry[];
  private seq = 0;
  private readonly counters: SecondCounters;
  private readonly ttft: WindowedHistogram;
  private readonly tpot: WindowedHistogram;
  private readonly endpoints = new Map<string, EndpointStats>();
  private readonly totals = { decisions: zeroReasons(), completions: 0, errors: 0, promptTokens: 0, cachedTokens: 0 };
  private readonly history: HistoryPoint[] = [];
  private readonly listeners = new Set<(e: FleetEvent) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The second of the last history point (tick). */
  private lastSecond?: number;
  private readonly windowS: number;
  private readonly pointWindowS: number;
  private readonly rateWindowS: number;
  private readonly halfLifeMs: number;
  private readonly scoresPerRequest: number;

  constructor(
    private readonly datastore: Pick<Datastore, 'list'>,
    private readonly opts: FleetRecorderOptions = {},
  ) {
    this.pool = opts.pool ?? 'kvgate';
    this.now = opts.now ?? Date.now;
    this.windowS = opts.windowS ?? 300;
    this.pointWindowS = opts.pointWindowS ?? 10;
    this.rateWindowS = opts.rateWindowS ?? 10;
    this.halfLifeMs = (opts.hitRateHalfLifeS ?? 60) * 1000;
    this.scoresPerRequest = opts.scoresPerRequest ?? 8;
    const n = Math.max(1, opts.recent ?? 64);
    this.ring = Array.from({ length: n }, () => ({ seq: -1, atMs: 0, requestId: '', endpoint: null, reason: 'load' as DecisionReason, status: null, ttftMs: null, tpotMs: null, promptTokens: null, cachedTokens: null, scores: undefined, rows: undefined }));
    this.counters = new SecondCounters(DECISION_REASONS.length + 2, this.windowS + 1);
    this.ttft = new WindowedHistogram(1000, this.windowS + 1);
    this.tpot = new WindowedHistogram(1000, this.windowS + 1);
  }

  /**
   * A routing decision. Returns a ticket (a sequence number) to pass to `recordRetry` and
   * `recordCompletion` for the same request.
   */
  recordDecision(d: DecisionInput): number {
    const reason: DecisionReason = d.prefixMatch && d.prefixMatch.matchedBlocks > 0 ? 'prefix-hit' : 'load';
    return this.push(d.requestId, d.endpointId, reason, d.scores);
  }

  /** The request moved to another endpoint of its pick (failover): counts one `fallback` decision. */
  recordRetry(ticket: number, endpointId: string): void {
    const at = this.now();
    this.counters.add(REASON_CHANNEL.fallback, at);
    this.totals.decisions.fallback++;
    const e = this.entry(ticket);
    if (e) {
      e.endpoint = endpointId;
      e.reason = 'fallback';
    }
  }

  /** The request was rejected before reaching any endpoint (saturation shed, no candidate). */
  recordShed(requestId: string, status = 429): void {
    const ticket = this.push(requestId, null, 'shed', undefined);
    const e = this.entry(ticket)!;
    e.status = status;
  }

  /**
   * The request finished (any outcome). `ticket` from `recordDecision`, or -1 for a request that
   * had no decision (answered before its pick); a stale ticket still counts.
   */
  recordCompletion(ticket: number, c: CompletionInput): void {
    const at = this.now();
    const error = c.status >= 400 || c.errorCode !== undefined;
    this.counters.add(CH_COMPLETIONS, at);
    this.totals.completions++;
    if (error) {
      this.counters.add(CH_ERRORS, at);
      this.totals.errors++;
    }
    let tpot = c.tpotMs;
    if (tpot === undefined && c.e2eMs !== undefined && c.ttftMs !== undefined && c.completionTokens !== undefined) tpot = timePerOutputToken(c.e2eMs, c.ttftMs, c.completionTokens);
    if (c.stream === false) tpot = undefined;
    if (!error) {
      if (c.ttftMs !== undefined) this.ttft.observe(c.ttftMs, at);
      if (tpot !== undefined) this.tpot.observe(tpot, at);
    }
    const e = this.entry(ticket);
    if (e) {
      if (c.endpointId !== undefined) e.endpoint = c.endpointId;
      e.status = c.status;
      e.ttftMs = c.ttftMs ?? null;
      e.tpotMs = tpot ?? null;
      e.promptTokens = c.promptTokens ?? null;
      e.cachedTokens = c.cachedTokens ?? null;
    }
    if (c.endpointId === undefined) return;
    let s = this.endpoints.get(c.endpointId);
    if (!s) {
      s = { requests: 0, errors: 0, promptTokens: 0, cachedTokens: 0, decayedPrompt: 0, decayedCached: 0, lastMs: at };
      this.endpoints.set(c.endpointId, s);
    }
    s.requests++;
    // A client that went away (499, no error of its own) is counted in the totals, as the metric
    // counts it (error_code Unknown), but is not the replica's fault.
    if (error && !(c.status === 499 && c.errorCode === undefined)) s.errors++;
    if (c.promptTokens !== undefined && c.promptTokens > 0) {
      const cached = Math.min(c.cachedTokens ?? 0, c.promptTokens);
      s.promptTokens += c.promptTokens;
      s.cachedTokens += cached;
      this.totals.promptTokens += c.promptTokens;
      this.totals.cachedTokens += cached;
      const f = 2 ** (-(at - s.lastMs) / this.halfLifeMs);
      s.decayedPrompt = s.decayedPrompt * f + c.promptTokens;
      s.decayedCached = s.decayedCached * f + cached;
      s.lastMs = at;
    }
  }

  /** The fleet now. Cost grows with endpoints, `recent` and `windowS`; call it about once a second. */
  snapshot(): FleetSnapshot {
    const at = this.now();
    const queue = this.opts.gatewayQueue?.();
    const replicas: ReplicaSnapshot[] = this.datastore.list().map((st) => {
      const s = this.endpoints.get(st.info.id);
      const m = st.metrics;
      return {
        id: st.info.id,
        url: st.info.url,
        healthy: st.healthy,
        running: m ? m.runningRequests : null,
        waiting: m ? m.waitingQueueSize : null,
        kvUsage: m ? m.kvCacheUsage : null,
        gatewayQueue: queue?.get(st.info.id) ?? 0,
        inFlight: st.inFlightRequests,
        prefixHitRate: s && s.decayedPrompt > 0 ? s.decayedCached / s.decayedPrompt : null,
        requests: s?.requests ?? 0,
        errors: s?.errors ?? 0,
        promptTokens: s?.promptTokens ?? 0,
        cachedTokens: s?.cachedTokens ?? 0,
        metricsAgeMs: m ? Math.max(0, Math.round(performance.now() - m.updatedAtMs)) : null,
      };
    });
    const windowMs = this.windowS * 1000;
    const pct = (h: WindowedHistogram): Percentiles => {
      const { values, count } = h.quantiles([0.5, 0.9, 0.99], windowMs, at);
      return { p50: values[0], p90: values[1], p99: values[2], count };
    };
    const perSecond = zeroReasons();
    for (const r of DECISION_REASONS) perSecond[r] = this.counters.sum(REASON_CHANNEL[r], at, this.rateWindowS) / this.rateWindowS;
    return {
      version: 1,
      pool: this.pool,
      atMs: at,
      replicas,
      latency: { windowS: this.windowS, ttftMs: pct(this.ttft), tpotMs: pct(this.tpot) },
      decisionsPerSecond: perSecond,
      rateWindowS: this.rateWindowS,
      decisionsTotal: { ...this.totals.decisions },
      completions: { total: this.totals.completions, errors: this.totals.errors, promptTokens: this.totals.promptTokens, cachedTokens: this.totals.cachedTokens },
      recent: this.recent(),
    };
  }

  /** History points, oldest first (at most `windowS`). */
  historyPoints(): HistoryPoint[] {
    return this.history.slice();
  }

  /** Samples one history point now (the second that just ended) and notifies subscribers. */
  tick(): FleetEvent {
    const snapshot = this.snapshot();
    const second = Math.floor(snapshot.atMs / 1000) - 1;
    const atMs = second * 1000;
    // The seconds since the last point, not only the one that just ended: a tick that comes late
    // (a busy event loop) must not drop a second's decisions from the charts.
    const span = this.lastSecond !== undefined && this.lastSecond < second ? Math.min(second - this.lastSecond, this.counters.seconds) : 1;
    this.lastSecond = second;
    const decisions = zeroReasons();
    for (const r of DECISION_REASONS) decisions[r] = this.counters.sum(REASON_CHANNEL[r], atMs, span);
    const pw = this.pointWindowS * 1000;
    const end = atMs + 999;
    const t = this.ttft.quantiles([0.5, 0.99], pw, end).values;
    const p = this.tpot.quantiles([0.5, 0.99], pw, end).values;
    const replicas: HistoryPoint['replicas'] = {};
    for (const r of snapshot.replicas) replicas[r.id] = { running: r.running, waiting: r.waiting, kvUsage: r.kvUsage, inFlight: r.inFlight, gatewayQueue: r.gatewayQueue };
    const point: HistoryPoint = {
      atMs,
      decisions,
      completions: this.counters.sum(CH_COMPLETIONS, atMs, span),
      errors: this.counters.sum(CH_ERRORS, atMs, span),
      ttftP50Ms: t[0],
      ttftP99Ms: t[1],
      tpotP50Ms: p[0],
      tpotP99Ms: p[1],
      replicas,
    };
    if (this.history.length && this.history[this.history.length - 1].atMs >= atMs) this.history.pop();
    this.history.push(point);
    while (this.history.length > this.windowS) this.history.shift();
    // Endpoints gone from the datastore: drop their stats so memory follows the fleet.
    const live = new Set(snapshot.replicas.map((r) => r.id));
    for (const id of this.endpoints.keys()) if (!live.has(id)) this.endpoints.delete(id);
    const event = { snapshot, point };
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Calls `listener` after every tick; returns the unsubscribe function. */
  subscribe(listener: (e: FleetEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Ticks every second (unref'd timer) until `stop()`. Idempotent. */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), 1000);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private push(requestId: string, endpoint: string | null, reason: DecisionReason, scores: DecisionInput['scores']): number {
    const at = this.now();
    this.counters.add(REASON_CHANNEL[reason], at);
    this.totals.decisions[reason]++;
    const seq = this.seq++;
    const e = this.ring[seq % this.ring.length];
    e.seq = seq;
    e.atMs = at;
    e.requestId = requestId;
    e.endpoint = endpoint;
    e.reason = reason;
    e.status = null;
    e.ttftMs = null;
    e.tpotMs = null;
    e.promptTokens = null;
    e.cachedTokens = null;
    e.scores = scores;
    e.rows = undefined;
    return seq;
  }

  private entry(ticket: number): RecentEntry | undefined {
    if (ticket < 0) return undefined;
    const e = this.ring[ticket % this.ring.length];
    return e && e.seq === ticket ? e : undefined;
  }

  private recent(): RecentRequest[] {
    const out: RecentRequest[] = [];
    for (let i = 1; i <= this.ring.length; i++) {
      const seq = this.seq - i;
      if (seq < 0) break;
      const e = this.ring[seq % this.ring.length];
      if (e.seq !== seq) break;
      if (!e.rows) {
        const raw = typeof e.scores === 'function' ? e.scores() : (e.scores ?? []);
        e.rows = [...raw]
          .sort((a, b) => b.total - a.total)
          .slice(0, this.scoresPerRequest)
          .map((s) => ({ endpoint: s.endpointId, total: s.total, byPlugin: { ...s.byPlugin } }));
        e.scores = undefined; // release the pick's closures
      }
      out.push({ seq, atMs: e.atMs, requestId: e.requestId, endpoint: e.endpoint, reason: e.reason, status: e.status, ttftMs: e.ttftMs, tpotMs: e.tpotMs, promptTokens: e.promptTokens, cachedTokens: e.cachedTokens, scores: e.rows });
    }
    return out;
  }
}
