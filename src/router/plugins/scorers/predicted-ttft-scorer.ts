import { z } from 'zod';
import type { CycleContext, PluginDefinition, Scorer } from '../types.js';
import type { EndpointState } from '../../api.js';
import { freshMetrics } from '../metrics-view.js';
import { RecentEnds } from './recent-ends.js';

const Params = z
  .object({
    /** Starting prefill rate per endpoint; learned online from observed TTFTs afterwards. */
    prefillTokensPerSecond: z.number().positive().default(15_928),
    /** Mean uncached prompt tokens assumed per queued request until learned. */
    queuedRequestTokens: z.number().positive().default(512),
    /** Added per running (decoding) request: decode work shares every engine step. */
    decodeMsPerRunningRequest: z.number().min(0).default(0.5),
    /** Optional KV-pressure barrier kvBarrierMs · k/(1−k) (0 = off; see docs/predicted-ttft.md for why it is off). */
    kvBarrierMs: z.number().min(0).default(0),
    /**
     * Weight of the KV admission wait: when the endpoint's free KV blocks cannot hold this
     * request's uncached prompt beside the requests already in the engine, vLLM admits it only as
     * running ones finish (0 = off). See kvAdmissionMaxGrowth for where it applies.
     */
    kvAdmissionWeight: z.number().min(0).default(1),
    /**
     * The KV wait applies on an endpoint only while its running requests' remaining decode
     * (running × half the mean output, tokens) is at most this share of its KV cache. Past it the
     * cache is the fleet's bottleneck: ends do not free space that stays free (the running
     * requests grow into it, and vLLM preempts), and moving a request off its prefix holder spends
     * another replica's slack on a copy of the prefix (llm-d's shape collapsed at 45 QPS with the
     * wait ungated; docs/predicted-ttft.md, point 7).
     */
    kvAdmissionMaxGrowth: z.number().min(0).default(0.1),
    /** Weight of the load externality: this request's prefill × ρ/(1−ρ), the delay it causes requests arriving behind it. */
    externalityWeight: z.number().min(0).default(1),
    /** Time constant of the endpoint utilization (ρ) estimate, ms. */
    utilizationWindowMs: z.number().positive().default(10_000),
    /** Charge for recomputing a prefix another endpoint caches, on a busy endpoint: × the recompute time. */
    duplicationWeight: z.number().min(0).default(4),
    /** Predicted TTFT for an endpoint whose metrics are stale or missing. */
    unknownPenaltyMs: z.number().min(0).default(10_000),
    /** EWMA weight of each new rate observation. */
    learningRate: z.number().min(0).max(1).default(0.2),
    /** Ignore TTFT samples for fewer tokens than this (fixed overheads dominate them). */
    minLearnTokens: z.number().int().min(0).default(256),
  })
  .strict();

interface Pending {
  endpointId: string;
  /** Tokens to prefill ahead of and including this request when it was picked (for the rate it then measures). */
  tokens: number;
  /** Its own uncached tokens: what its pick added to the endpoint's backlog and demand. */
  own: number;
  pickedMs: number;
  /** The KV wait predicted for it at its pick (ms): part of its TTFT that is not prefill. */
  kvWaitMs: number;
  /** When its first token came back (for the decode step time it then measures). */
  firstMs?: number;
}

/** Prefill work this router sent to one endpoint and not yet done by it, as of `atMs` (tokens). */
interface Backlog {
  tokens: number;
  atMs: number;
}

/** Exponentially decaying rate of prefill tokens sent to one endpoint (tokens per ms). */
interface Demand {
  tokensPerMs: number;
  atMs: number;
}

/**
 * Scores endpoints by the cost of sending this request there, in milliseconds of time to first
 * token (lower is better: best = 1, others best/own):
 *
 *   prefill wait  (tokens ahead + own uncached tokens) / prefill rate, + decode share
 *   KV wait       until running requests end and free the blocks its uncached prompt needs
 *   externality   own / rate × ρ/(1−ρ): the delay its prefill causes requests arriving behind it
 *   duplication   duplicationWeight × min(1, backlog) × (best hit − own hit) / rate: recomputing a
 *                 prefix another endpoint caches, charged only when this endpoint is busy
 *
 * Cache affinity and load meet in one currency; see docs/predicted-ttft.md for the model, the
 * simulator study behind each term, and the parameters.
 */
export const predictedTtftScorer: PluginDefinition<typeof Params> = {
  type: 'predicted-ttft-scorer',
  kind: 'scorer',
  parameters: Params,
  create: (p) => {
    const seedRate = p.prefillTokensPerSecond / 1000; // tokens per ms
    // One prefill rate for the pool: replicas of an InferencePool serve one model on one kind of
    // hardware, and a per-endpoint rate would only be learned where traffic already goes, making
    // that endpoint look ever faster (rich-get-richer).
    let rate = seedRate;
    const meanQueued = new Map<string, number>();
    // The engine's decode step time, ms, learned from completed requests' time per output token
    // (one token per step while decoding); 0 until the first sample.
    let stepMs = 0;
    // How long a request holds its KV blocks, ms: from its admission (its pick, plus the KV wait
    // predicted for it) to its end, prefill and decode; learned the same way, 0 until the first sample.
    let holdMs = 0;
    // Output tokens per completed request, learned the same way; 0 until the first sample.
    let outMean = 0;
    const ended = new RecentEnds();
    const pending = new Map<string, Pending>();
    const demand = new Map<string, Demand>();
    const backlog = new Map<string, Backlog>();
    const meanRequest = (id: string) => meanQueued.get(id) ?? p.queuedRequestTokens;
    const demandAt = (id: string, nowMs: number) => {
      const d = demand.get(id);
      return d ? d.tokensPerMs * Math.exp(-Math.max(0, nowMs - d.atMs) / p.utilizationWindowMs) : 0;
    };
    /** What is left of the prefill work this router sent to `id`, the engine working through it at `rate` since. */
    const backlogAt = (id: string, nowMs: number) => {
      const b = backlog.get(id);
      return b ? Math.max(0, b.tokens - rate * Math.max(0, nowMs - b.atMs)) : 0;
    };
    /**
     * Takes back what the pick of a request that ended without a first token from its endpoint
     * added to that endpoint's demand and backlog: the engine refused it (a prompt over
     * max-model-len: vLLM's 400 at once), failed it, or it moved to another endpoint, so it was
     * never prefill work there. Left in, one refused 50,000-token prompt made an idle replica look
     * loaded (ρ) for tens of seconds and the router sent it a fraction of its share.
     */
    const withdraw = (pd: Pending, nowMs: number) => {
      const id = pd.endpointId;
      const d = demand.get(id);
      if (d) {
        const left = (pd.own / p.utilizationWindowMs) * Math.exp(-Math.max(0, nowMs - pd.pickedMs) / p.utilizationWindowMs);
        d.tokensPerMs = Math.max(0, demandAt(id, nowMs) - left);
        d.atMs = nowMs;
      }
      const b = backlog.get(id);
      if (b) {
        b.tokens = Math.max(0, backlogAt(id, nowMs) - pd.own);
        b.atMs = nowMs;
      }
    };
    const hitOf = (ep: EndpointState, ctx: CycleContext) => (ctx.prefix ? (ctx.prefix.matched.get(ep.info.id) ?? 0) * ctx.prefix.blockTokens : 0);
    /**
     * Uncached tokens to prefill before this request: the engine's waiting requests plus what this
     * router sent since the last scrape — or, when larger, what is left of the prefills this router
     * sent there: vLLM counts a request as running from the step that starts its prefill, so once
     * a scrape has seen it, a 3,000-token prefill still in progress (~150 ms on the default
     * profile) is no longer in the waiting count. What is left is this router's in-flight tokens
     * (uncached tokens of its requests there without a first token) capped by a fluid backlog:
     * each pick adds its uncached tokens, and the engine works through them at the learned rate.
     * The in-flight tokens alone would count a prefill in progress as if none of it were done —
     * a request arriving during a step waits for that step's remainder, not for its whole
     * prefill — and priced a prefix holder with a few prefills in flight like a recompute of the
     * whole prompt on an idle replica (kvgate simulate, llm-d's shape: prefixes copied onto every
     * replica at each stage start, KV full ~2 s sooner, TTFT p90 at 60 QPS 0.15 → 12.5 s).
     * The larger of the two estimates, not the sum: this router's queued requests are in both.
     */
    const aheadOf = (ep: EndpointState, ctx: CycleContext) => {
      const m = freshMetrics(ep, ctx);
      const seen = (m ? m.waitingQueueSize * meanRequest(ep.info.id) : 0) + ep.dispatchedTokensSinceScrape;
      return Math.max(seen, Math.min(ep.inFlightTokens, backlogAt(ep.info.id, ctx.nowMs)));
    };
    /**
     * The wait for the step in flight: a continuous-batching engine admits a request only at a
     * step boundary, so on an endpoint with requests in progress a new one waits, on average, half
     * a step before its own can start; an idle engine starts one at once. This router's in-flight
     * count says whether the endpoint is busy now (metrics lag a scrape, longer than a step).
     */
    const stepWaitOf = (ep: EndpointState) => (ep.inFlightRequests > 0 ? stepMs / 2 : 0);
    /**
     * The wait for KV space. vLLM admits a waiting request only when the free blocks (cached but
     * unreferenced ones count as free) hold its uncached prompt; until then it waits for running
     * requests to finish and release theirs, however fast it prefills. The requests in the engine
     * now are the scrape's running and waiting ones, less this router's that ended since the
     * scrape, plus those it sent since; each holds the blocks a running one held at the scrape
     * (kv_cache_usage_perc × num_gpu_blocks / running: a prefix shared by requests counted once).
     * When the rest cannot hold this request's uncached tokens, k of them must finish first. With
     * r running and their remaining times spread evenly over the time H a request holds its blocks
     * (learned from completions: admission to end, its prefill included — a request holds its
     * blocks while it prefills), the k-th ends after about k/(r+1) × H (order statistics of r
     * uniform remainders); past r, each further request costs a whole H. With H the decode time
     * alone (first token to end), issue 12's KV-tight shape predicted 241 ms of KV wait where
     * requests waited about twice that (seeds 1–6, p90 845 against 776 ms). 0 where the running
     * requests' remaining decode exceeds kvAdmissionMaxGrowth of the cache (the model's premise,
     * that an end frees space that stays free, no longer holds there).
     * `self` is 1 when the router has already counted this request in `dispatchedSinceScrape`
     * (after its pick), so the wait is the one its scoring saw.
     */
    const kvWaitOf = (ep: EndpointState, ctx: CycleContext, own: number, m: NonNullable<ReturnType<typeof freshMetrics>>, self: 0 | 1 = 0) => {
      const capacity = m.numGpuBlocks;
      if (!capacity || holdMs === 0) return 0;
      const B = m.blockSize ?? ctx.prefix?.blockTokens ?? 16;
      const id = ep.info.id;
      const running = m.runningRequests;
      if ((running * outMean) / 2 > p.kvAdmissionMaxGrowth * capacity * B) return 0;
      // Blocks a request in the engine holds, as the scrape saw them (shared prefixes counted once).
      const perRequest = running > 0 ? Math.max(1, (m.kvCacheUsage * capacity) / running) : Math.max(1, ctx.request.promptTokens / B);
      // Requests in the engine now: the scrape's, less those of this router that ended since, plus those it sent since.
      const inEngine = Math.max(0, running + m.waitingQueueSize - ended.endedAfter(id, m.updatedAtMs)) + Math.max(0, ep.dispatchedSinceScrape - self);
      const free = capacity - inEngine * perRequest;
      const need = own / B;
      if (need <= free) return 0;
      const k = Math.ceil((need - free) / perRequest);
      const r = Math.max(1, Math.min(inEngine, Math.floor(capacity / perRequest)));
      return k <= r ? (k / (r + 1)) * holdMs : (r / (r + 1) + (k - r)) * holdMs;
    };
    const predict = (ep: EndpointState, ctx: CycleContext, bestHit: number) => {
      const id = ep.info.id;
      const m = freshMetrics(ep, ctx);
      const hit = hitOf(ep, ctx);
      const own = Math.max(1, ctx.request.promptTokens - hit);
      const ahead = aheadOf(ep, ctx);
      let ms = (ahead + own) / rate + stepWaitOf(ep);
      if (p.externalityWeight > 0) {
        const rho = Math.min(0.95, demandAt(id, ctx.nowMs) / rate);
        ms += (p.externalityWeight * own * rho) / (1 - rho) / rate;
      }
      if (p.duplicationWeight > 0 && bestHit > hit) {
        const busy = Math.min(1, ahead / meanRequest(id));
        ms += (p.duplicationWeight * busy * (bestHit - hit)) / rate;
      }
      if (!m) return ms + p.unknownPenaltyMs;
      ms += m.runningRequests * p.decodeMsPerRunningRequest;
      if (p.kvAdmissionWeight > 0) ms += p.kvAdmissionWeight * kvWaitOf(ep, ctx, own, m);
      if (p.kvBarrierMs > 0) {
        const k = Math.min(0.99, Math.max(0, m.kvCacheUsage));
        ms += (p.kvBarrierMs * k) / (1 - k);
      }
      return ms;
    };
    const scorer: Scorer = {
      kind: 'scorer',
      needsPrefix: true,
      // Exact matches (KV events) where an endpoint's stream is live, approximate elsewhere.
      exactPrefix: 'preferred',
      score(ctx, eps) {
        let bestHit = 0;
        if (ctx.prefix) for (const m of ctx.prefix.matched.values()) bestHit = Math.max(bestHit, m * ctx.prefix.blockTokens);
        const preds = eps.map((e) => predict(e, ctx, bestHit));
        const best = Math.min(...preds);
        return preds.map((v) => (best + 1) / (v + 1));
      },
      onPicked(ctx, ep) {
        const id = ep.info.id;
        const own = Math.max(1, ctx.request.promptTokens - hitOf(ep, ctx));
        // Updated in place: an object per pick passing through a long-lived Map would outlive the
        // young generation (see shared/slot-set.ts).
        const left = backlogAt(id, ctx.nowMs) + own;
        const b = backlog.get(id);
        if (b) {
          b.tokens = left;
          b.atMs = ctx.nowMs;
        } else backlog.set(id, { tokens: left, atMs: ctx.nowMs });
        // The router has already counted this request in dispatchedTokensSinceScrape and
        // inFlightTokens, and its backlog now: ahead includes own.
        const tokens = aheadOf(ep, ctx);
        const m = p.kvAdmissionWeight > 0 ? freshMetrics(ep, ctx) : undefined;
        const kvWaitMs = m ? kvWaitOf(ep, ctx, own, m, 1) : 0;
        pending.set(ctx.request.id, { endpointId: id, tokens, own, pickedMs: ctx.nowMs, kvWaitMs });
        if (p.externalityWeight > 0) {
          // A decaying sum: tokens per ms sent over about the last utilizationWindowMs.
          demand.set(id, { tokensPerMs: demandAt(id, ctx.nowMs) + own / p.utilizationWindowMs, atMs: ctx.nowMs });
        }
      },
      onFirstToken(requestId, endpointId, nowMs) {
        const pd = pending.get(requestId);
        if (!pd || pd.endpointId !== endpointId) return;
        pd.firstMs = nowMs;
        // The mean request size is learned from requests the engine prefilled, not from every
        // pick: one refused prompt (longer than max-model-len) would otherwise weigh for dozens.
        const q = meanRequest(endpointId);
        meanQueued.set(endpointId, q + 0.1 * (pd.own - q));
        if (pd.tokens < p.minLearnTokens) return;
        // Less the KV wait predicted at the pick: time it waited for another request to end is not
        // prefill. Counted in, it taught a rate a quarter of the real one where the KV holds about
        // one request (TTFT ≈ half a decode + the prefill), every miss then looked four times dearer
        // and requests queued behind prefix holders (issue 12's shape: p90 913 → 775 ms with it out).
        const ttft = nowMs - pd.pickedMs - pd.kvWaitMs;
        if (ttft <= 0) return;
        const observed = pd.tokens / ttft;
        const next = rate + p.learningRate * (observed - rate);
        rate = Math.min(seedRate * 10, Math.max(seedRate / 10, next));
      },
      onComplete(requestId, nowMs, usage) {
        const pd = pending.get(requestId);
        pending.delete(requestId);
        if (pd && pd.firstMs === undefined && nowMs !== undefined) withdraw(pd, nowMs);
        // It left the engine: a scrape taken before now still counts it.
        if (pd && nowMs !== undefined && p.kvAdmissionWeight > 0) ended.add(pd.endpointId, pd.pickedMs, nowMs);
        // Time per output token after the first: one decode step per token.
        const out = usage?.completionTokens ?? 0;
        if (pd && out > 0) outMean = outMean === 0 ? out : outMean + p.learningRate * (out - outMean);
        if (pd?.firstMs === undefined || nowMs === undefined || out < 2) return;
        const decode = nowMs - pd.firstMs;
        const sample = decode / (out - 1);
        if (sample > 0) stepMs = stepMs === 0 ? sample : stepMs + p.learningRate * (sample - stepMs);
        const hold = nowMs - pd.pickedMs - pd.kvWaitMs;
        if (hold > 0) holdMs = holdMs === 0 ? hold : holdMs + p.learningRate * (hold - holdMs);
      },
      predictTtftMs(ctx, ep) {
        const m = freshMetrics(ep, ctx);
        if (!m) return undefined;
        // The wait the endpoint's load adds (tokens queued ahead, decode sharing each step), not
        // the request's own prefill: that is the same on an idle endpoint, so a long prompt alone
        // never makes a pool look saturated. Externality and duplication are routing costs, not waits.
        return aheadOf(ep, ctx) / rate + stepWaitOf(ep) + m.runningRequests * p.decodeMsPerRunningRequest;
      },
    };
    return scorer;
  },
};
