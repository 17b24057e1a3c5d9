import type { SimEngine } from '../engine/index.js';
import type { Clock } from '../engine/types.js';
import type { EndpointMetrics } from '../router/api.js';
import type { ModelledReplica } from './fleet.js';

/**
 * The EndpointMetrics a router gets from scraping a replica's /metrics at this moment: exactly what
 * `kvgate sim` exports (src/sim/metrics.ts: vllm:num_requests_waiting / _running,
 * vllm:kv_cache_usage_perc, vllm:cache_config_info block_size and num_gpu_blocks, vllm:scheduler_config_info max_num_seqs and
 * max_num_batched_tokens, max_lora 0)
 * after the datalayer's parser reads it. test/simulate checks the two paths agree.
 */
export function engineMetrics(engine: SimEngine, nowMs: number): EndpointMetrics {
  const s = engine.stats();
  return {
    waitingQueueSize: s.waiting,
    runningRequests: s.running,
    kvCacheUsage: s.kvCacheUsage,
    activeLoras: [],
    waitingLoras: [],
    maxLoras: 0,
    blockSize: engine.blockSize,
    numGpuBlocks: engine.numGpuBlocks,
    maxNumSeqs: engine.maxNumSeqs,
    maxNumBatchedTokens: engine.maxNumBatchedTokens,
    updatedAtMs: nowMs,
  };
}

export interface ScrapeModelOptions {
  /** Scrape period per endpoint (the gateway's 50 ms). */
  intervalMs: number;
  /** Time from reading the replica's state to the router holding it (HTTP round trip and parsing). */
  latencyMs: number;
}

/**
 * The gateway's metrics scraper in virtual time: one loop per replica, each reading the engine's
 * state, delivering it `latencyMs` later, and starting its next scrape `intervalMs` after that (the
 * real scraper waits for a scrape to finish before scheduling the next). Loops start spread over
 * the first interval, as independent timers would. Between deliveries the router sees stale values
 * — the staleness the router's dispatched-since-scrape bookkeeping exists to cover.
 */
export class ScrapeModel {
  private stopped = false;
  /** Scrapes delivered and the sum of the waiting-queue sizes they saw (for vLLM's wait-queue mean). */
  readonly counts = { scrapes: 0, waitingSum: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly replicas: ModelledReplica[],
    private readonly deliver: (endpointId: string, metrics: EndpointMetrics) => void,
    private readonly o: ScrapeModelOptions,
  ) {}

  /** First scrape of every replica right away (the gateway scrapes on start), then the loops. */
  start(): void {
    const n = this.replicas.length;
    for (const r of this.replicas) {
      this.scrape(r);
      const phase = ((r.index + 1) / (n + 1)) * this.o.intervalMs;
      this.clock.setTimer(() => this.loop(r), phase);
    }
  }

  /** Stops every loop after its current scrape (the run ends when no timers remain). */
  stop(): void {
    this.stopped = true;
  }

  private scrape(r: ModelledReplica): void {
    const snapshot = engineMetrics(r.engine, this.clock.now());
    const done = () => {
      this.counts.scrapes++;
      this.counts.waitingSum += snapshot.waitingQueueSize;
      this.deliver(r.info.id, { ...snapshot, updatedAtMs: this.clock.now() });
    };
    if (this.o.latencyMs > 0) this.clock.setTimer(done, this.o.latencyMs);
    else done();
  }

  private loop(r: ModelledReplica): void {
    if (this.stopped) return;
    this.scrape(r);
    this.clock.setTimer(() => this.loop(r), this.o.latencyMs + this.o.intervalMs);
  }
}
