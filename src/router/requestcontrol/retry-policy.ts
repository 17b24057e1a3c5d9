/**
 * When a failed attempt moves to the next endpoint, apart from how attempts are made (the
 * gateway's undici transport, or Envoy walking the EPP's fallback list).
 *
 * Retryable upstream statuses, as Envoy's `retriable-status-codes` for a model-serving route and
 * SMG's defaults: 408 (request timeout), 429 (the engine's own queue is full), 500, 502, 503, 504.
 * Only before the first response byte reached the client: a committed response is never retried.
 */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE.has(status);
}

/**
 * Pause before the retry that follows attempt `attempt` (1-based): a small jittered delay that
 * grows with the attempt (5 ms + up to 20 ms × attempt), so a burst that failed together does not
 * arrive at the next endpoint together.
 */
export function retryDelayMs(attempt: number, random: () => number): number {
  return 5 + random() * 20 * attempt;
}
