import type { EndpointState } from '../../src/router/api.js';

/** What a scorer reads of one endpoint: its last scrape and what this router sent since. */
export interface ScoredEndpointSpec {
  /** The scrape's vllm:num_requests_waiting (requests). */
  queue?: number;
  /** The scrape's vllm:num_requests_running (requests). */
  running?: number;
  /** The scrape's KV-cache usage, 0–1. */
  kv?: number;
  /** Uncached prompt tokens this router dispatched since that scrape (tokens). */
  dispatched?: number;
  /** Requests this router dispatched since that scrape. */
  dispatchedRequests?: number;
  /** When the scrape was taken (ms on the router's clock). */
  atMs: number;
  /** vllm:cache_config_info's num_gpu_blocks and block_size (tokens a block); unset, as a scrape without it. */
  kvBlocks?: { numGpuBlocks: number; blockSize: number };
}

/**
 * A healthy endpoint `id` (host `id`, port 8000) with nothing in flight, for scorer unit tests
 * that call the scorer directly, without a datastore. Unset counts are 0.
 */
export function scoredEndpoint(id: string, o: ScoredEndpointSpec): EndpointState {
  return {
    info: { id, host: id, port: 8000, url: '', labels: {} },
    healthy: true,
    inFlightRequests: 0,
    inFlightSheddable: 0,
    dispatchedSinceScrape: o.dispatchedRequests ?? 0,
    inFlightTokens: 0,
    dispatchedTokensSinceScrape: o.dispatched ?? 0,
    metrics: { waitingQueueSize: o.queue ?? 0, runningRequests: o.running ?? 0, kvCacheUsage: o.kv ?? 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: o.atMs, ...o.kvBlocks },
  };
}
