import type { EndpointMetrics, EndpointState } from '../api.js';

export interface SaturationGateOptions {
  /** Engine waiting-queue depth at which an endpoint is saturated (GIE's queueDepthThreshold, 5). */
  queueDepthThreshold: number;
  /** KV-cache usage (0..1) at which an endpoint is saturated (GIE's kvCacheUtilThreshold, 0.8). */
  kvCacheUtilThreshold: number;
  /** Metrics older than this (ms) are not used (GIE's metricsStalenessThreshold, 200 ms). */
  metricsStalenessMs: number;
  /** Tolerance above the thresholds before an endpoint stops taking requests (GIE's headroom, 0). */
  headroom: number;
  /** Per-endpoint concurrency cap = max_num_seqs × this (`--max-num-seqs-factor`). */
  maxNumSeqsFactor: number;
  /** max_num_seqs assumed for endpoints that do not report it (`--max-num-seqs`; vLLM's default on most GPUs, 256). */
  defaultMaxNumSeqs: number;
  /**
   * max_num_batched_tokens assumed for endpoints that do not report it (`--max-num-batched-tokens`;
   * vLLM's OpenAI-server default on GPUs under 70 GiB, 2,048; 8,192 on H100-class ones).
   */
  defaultMaxNumBatchedTokens?: number;
  /** With a TTFT predictor (the kvgate preset): predicted TTFT (ms) at which an endpoint is saturated. */
  ttftThresholdMs?: number;
  /**
   * Sheddable requests take only free batch slots, and at most this fraction of an endpoint's
   * max_num_seqs (`--sheddable-max-fill`, default 0.9): they never wait in an engine queue, and
   * the last slots stay free for requests of higher priority, which then start at once.
   */
  sheddableMaxFill?: number;
  /** Time constant (ms) of the mean of higher-priority requests in flight per endpoint that sheddable requests leave room for (default 2 s). */
  reserveWindowMs?: number;
}

/** Time-weighted mean of an endpoint's non-sheddable requests in flight, as sampled at dispatch attempts. */
interface Reserve {
  mean: number;
  atMs: number;
}

/** Predicted time to first token of a request on an endpoint (ms), or undefined when unknown. */
export type TtftPredictor = (ep: EndpointState, nowMs: number) => number | undefined;

export interface Assessment {
  /** Candidates that may take the request now (each below 1 + headroom); empty = saturated for it. */
  eligible: EndpointState[];
  /**
   * Where the scheduler may send the request now (empty = it waits): for a sheddable request the
   * eligible ones; for others, while some candidate's load score (the score without its KV term,
   * see assess) is below 1 + headroom, every candidate
   * under its concurrency cap, so cache affinity and the scheduler's own load scorers decide (as in
   * GIE, whose flow control decides when a request goes and the scheduler where). Restricting
   * them to the eligible endpoints instead sent requests away from the replicas caching their
   * prefixes whenever those were busy (kvgate simulate, llm-d's shape: hit rate 91 → 53 %).
   */
  targets: EndpointState[];
  /** GIE's graded pool saturation: the mean of the candidates' scores (≥ 1 saturated; empty pool = 1). */
  saturation: number;
}

/**
 * Whether a request can be dispatched now, and where: GIE's utilization detector used as a
 * filter, per endpoint score = max(waiting / queueDepthThreshold, kv / kvCacheUtilThreshold), with
 * what only the gateway knows added:
 * - the requests (and their uncached prompt tokens) it sent since the endpoint's last scrape,
 *   until they start or the next scrape sees them: those its engine cannot start at once (see
 *   unstartedWaiting) count into its waiting queue, their tokens into its KV usage;
 * - its own in-flight count against the endpoint's concurrency cap (max_num_seqs × factor), a
 *   hard limit so no more requests go to an endpoint than its engine queue should hold;
 * - when the endpoint reports max_num_seqs, the engine queue implied by that count
 *   (in-flight − max_num_seqs), which is fresh between two scrapes;
 * - with a TTFT predictor, predicted TTFT / ttftThresholdMs.
 * Stale or missing metrics do not stop dispatch (GIE counts them as saturated): the in-flight
 * count still bounds what goes there, and a pool whose scrapes fail keeps serving.
 *
 * For endpoints that do not report max_num_seqs, the cap grows with the most requests the engine
 * was seen running, so an engine larger than `defaultMaxNumSeqs` is not held back for long.
 */
export class SaturationGate {
  private readonly peakRunning = new Map<string, number>();
  private readonly reserves = new Map<string, Reserve>();

  constructor(readonly o: SaturationGateOptions) {}

  /** Fresh metrics of an endpoint arrived (learns its running peak). */
  observe(id: string, m: EndpointMetrics): void {
    if (m.runningRequests > (this.peakRunning.get(id) ?? 0)) this.peakRunning.set(id, m.runningRequests);
  }

  forget(id: string): void {
    this.peakRunning.delete(id);
    this.reserves.delete(id);
  }

  /**
   * Batch slots to keep for requests that are not sheddable: the time-weighted mean of their
   * count in flight (over about reserveWindowMs) plus one standard deviation of a Poisson count
   * of that mean. Without it a sheddable request takes any slot free at its arrival and holds it
   * for its whole generation, so near capacity the critical class waits behind the sheddable
   * class's few admitted requests (measured by bench:overload: at 0.95 × capacity of critical
   * traffic, 3 % of slot time went to sheddable requests and critical TTFT p99 grew 40×).
   */
  private reserve(ep: EndpointState, nowMs: number): number {
    const id = ep.info.id;
    const critical = ep.inFlightRequests - ep.inFlightSheddable;
    const r = this.reserves.get(id);
    let mean = critical;
    if (r) {
      const a = 1 - Math.exp(-Math.max(0, nowMs - r.atMs) / (this.o.reserveWindowMs ?? 2000));
      mean = r.mean + (critical - r.mean) * a;
      r.mean = mean;
      r.atMs = nowMs;
    } else this.reserves.set(id, { mean, atMs: nowMs });
    return Math.max(critical, mean + Math.sqrt(mean));
  }

  /** The engine's batch size: reported max_num_seqs, else the default or the running peak seen, whichever is larger. */
  maxNumSeqs(ep: EndpointState): number {
    const known = ep.metrics?.maxNumSeqs;
    if (known !== undefined && known > 0) return known;
    return Math.max(this.o.defaultMaxNumSeqs, this.peakRunning.get(ep.info.id) ?? 0);
  }

  /** Most requests in flight to the endpoint at once. */
  cap(ep: EndpointState): number {
    return Math.max(1, Math.ceil(this.maxNumSeqs(ep) * this.o.maxNumSeqsFactor));
  }

  /** The endpoint's saturation score (≥ 1 saturated): GIE's, max of its load and KV terms. */
  score(ep: EndpointState, nowMs: number, predict?: TtftPredictor): number {
    const t = this.terms(ep, nowMs, predict);
    return Math.max(t.load, t.kv);
  }

  /**
   * The score's two parts: `load` = max(in flight / cap, engine waiting / queueDepthThreshold,
   * predicted TTFT / threshold) and `kv` = KV usage / kvCacheUtilThreshold (0 when stale).
   */
  private terms(ep: EndpointState, nowMs: number, predict?: TtftPredictor): { load: number; kv: number } {
    const o = this.o;
    const inFlight = ep.inFlightRequests;
    let load = inFlight / this.cap(ep);
    const m = ep.metrics;
    const fresh = m !== undefined && nowMs - m.updatedAtMs <= o.metricsStalenessMs;
    // Requests sent since the scrape claim batch slots, prefill budget and KV blocks before the
    // next scrape shows them: without counting them, every request released in one dispatch
    // cycle would go to the one endpoint that looked free (measured in kvgate simulate: one of 8
    // replicas got 2.7× its share and the fleet's throughput halved).
    let waiting = fresh ? m.waitingQueueSize + this.unstartedWaiting(ep, m) : 0;
    if (m?.maxNumSeqs) waiting = Math.max(waiting, inFlight - m.maxNumSeqs);
    load = Math.max(load, waiting / o.queueDepthThreshold);
    let kv = 0;
    if (fresh) {
      const blocks = (m.numGpuBlocks ?? 0) * (m.blockSize ?? 0);
      kv = (m.kvCacheUsage + (blocks > 0 ? ep.dispatchedTokensSinceScrape / blocks : 0)) / o.kvCacheUtilThreshold;
      if (predict && o.ttftThresholdMs) {
        const ttft = predict(ep, nowMs);
        if (ttft !== undefined) load = Math.max(load, ttft / o.ttftThresholdMs);
      }
    }
    return { load, kv };
  }

  /**
   * How many of the requests sent to `ep` since its last scrape, not yet started, its engine holds
   * in its waiting queue: those beyond its free batch slots (max_num_seqs − running − waiting), or
   * beyond what one step's prefill budget takes (max_num_batched_tokens less one token per running
   * decode, as vLLM schedules running requests first), whichever is more. The budget part is
   * Dynamo's router-queue test (active prefill tokens against max_num_batched_tokens) per request:
   * the share of the unstarted prompt tokens over the budget. Counting every unstarted request as
   * waiting instead held a fleet of cheap requests at queueDepthThreshold (5) in flight per
   * endpoint between scrapes: non-streamed requests start only when they finish, so the gateway
   * sent an idle engine 5 per scrape (bench:gateway: 11k req/s with flow control, 16k without).
   */
  private unstartedWaiting(ep: EndpointState, m: EndpointMetrics): number {
    const n = ep.dispatchedSinceScrape;
    if (n === 0) return 0;
    const freeSlots = Math.max(0, this.maxNumSeqs(ep) - m.runningRequests - m.waitingQueueSize);
    const overSlots = Math.max(0, n - freeSlots);
    const budget = Math.max(1, (m.maxNumBatchedTokens ?? this.o.defaultMaxNumBatchedTokens ?? 2048) - m.runningRequests);
    const tokens = ep.dispatchedTokensSinceScrape;
    const overBudget = tokens > budget ? n * (1 - budget / tokens) : 0;
    return Math.max(overSlots, overBudget);
  }

  /**
   * Scores every candidate; the eligible are those below 1 + headroom and under their cap, and for
   * a `sheddable` request also with a free batch slot below sheddableMaxFill × max_num_seqs, after
   * the slots reserved for other requests (see reserve()), and nothing waiting in the engine (by
   * fresh metrics).
   */
  assess(candidates: readonly EndpointState[], nowMs: number, predict?: TtftPredictor, sheddable = false): Assessment {
    const eligible: EndpointState[] = [];
    const open: EndpointState[] = [];
    let sum = 0;
    const limit = 1 + this.o.headroom;
    const fill = this.o.sheddableMaxFill ?? 1;
    // Room (in engine-queue places) left below the thresholds, and the requests sent since their
    // last scrape to endpoints that had none: those are charged to the pool's room too, so a
    // queue released while some replica has room stops after about that much, wherever the
    // scheduler sends it (it scores on scraped metrics and would otherwise herd a whole release
    // onto one replica).
    let room = 0;
    let borrowed = 0;
    for (const ep of candidates) {
      const t = this.terms(ep, nowMs, predict);
      const s = Math.max(t.load, t.kv);
      sum += s;
      const reserved = this.reserve(ep, nowMs);
      if (ep.inFlightRequests >= this.cap(ep)) continue;
      open.push(ep);
      if (t.load < limit) room += (limit - t.load) * this.o.queueDepthThreshold;
      else borrowed += ep.dispatchedSinceScrape;
      if (s >= limit) continue;
      if (sheddable) {
        const m = ep.metrics;
        const waiting = m !== undefined && nowMs - m.updatedAtMs <= this.o.metricsStalenessMs ? m.waitingQueueSize : 0;
        const slots = Math.floor(this.maxNumSeqs(ep) * fill);
        if (waiting > 0 || ep.inFlightRequests >= slots || ep.inFlightSheddable + reserved >= slots) continue;
      }
      eligible.push(ep);
    }
    const saturation = candidates.length ? sum / candidates.length : 1;
    // Requests wait only when no candidate has room (GIE's binary detector: the pool is saturated
    // iff no endpoint is below its thresholds; here also when what was sent to the others used
    // it up, see `borrowed`), and then the scheduler chooses among all of them.
    // The graded mean (GIE's flow control) held the whole pool back behind its hot spots: the
    // replicas that cache the popular prefixes carry long engine queues while others idle, and in
    // kvgate simulate of llm-d's shape that cost TTFT p90 0.13 → 4 s at 40–60 QPS. Each request
    // sent counts at once on its endpoint (dispatchedSinceScrape), so a burst still stops once no
    // endpoint has room. KV usage does not hold back requests that are not sheddable: a replica
    // whose cache is full keeps the requests it has no blocks for in its waiting queue, which the
    // load term counts, so KV above 0.8 is a full batch, not overload.
    return { eligible, targets: sheddable ? eligible : room > borrowed ? open : [], saturation };
  }
}
