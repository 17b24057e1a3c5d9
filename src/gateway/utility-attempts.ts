import type { EndpointInfo } from '../router/api.js';
import { isRetryableStatus } from '../router/requestcontrol/retry-policy.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/** What one attempt of a utility request returned: a status and a body the caller may discard. */
export interface UtilityResponse {
  statusCode: number;
  body: { dump(): Promise<void> };
}

export interface UtilityAttemptOptions<R extends UtilityResponse> {
  /** Endpoints that may serve the request (ready, serving its model), in any order; at least one. */
  endpoints: readonly EndpointInfo[];
  /** Most endpoints to try (`--max-attempts`). */
  maxAttempts: number;
  /** In [0, 1): where in `endpoints` the first attempt starts (spreads load like a random pick). */
  random: () => number;
  /** Sends the request to one endpoint; rejects on a transport failure (connect error, reset, timeout). */
  send: (ep: EndpointInfo) => Promise<R>;
  /** Whether the client is gone: then no further attempt is made (and the last error is thrown). */
  abandoned: () => boolean;
  /**
   * One attempt failed; `reason` names the error or status. `transport`: no answer at all (the
   * endpoint's health should hear of it), else a retryable status (the endpoint is up).
   */
  failed: (ep: EndpointInfo, reason: string, transport: boolean) => void;
}

/**
 * Sends a request that needs no prefix routing (`/tokenize`, `/detokenize`, `/v1/embeddings`,
 * `/version`) to the endpoints in turn, starting at a random one, until one answers with a status
 * that is not retryable (see retry-policy: 408, 429, 5xx gateway statuses) or `maxAttempts`
 * endpoints were tried. These requests are idempotent, so a replica that is down (not yet ejected
 * by the health probes) or overloaded is failed over as an inference request is.
 *
 * Returns the answering endpoint and its response (the caller streams its body). The last
 * endpoint's retryable status is returned as it is, so the client sees the replica's own error.
 * Throws KvgateError `upstream_failed` (503, naming the endpoint and error) when no endpoint
 * answered at all; rethrows the transport error when the client went away meanwhile.
 */
export async function firstUtilityAnswer<R extends UtilityResponse>(o: UtilityAttemptOptions<R>): Promise<{ endpoint: EndpointInfo; response: R }> {
  const n = Math.min(o.endpoints.length, Math.max(1, o.maxAttempts));
  const start = Math.floor(o.random() * o.endpoints.length);
  let last = '';
  for (let i = 0; i < n; i++) {
    const ep = o.endpoints[(start + i) % o.endpoints.length];
    let response: R;
    try {
      response = await o.send(ep);
    } catch (err) {
      if (o.abandoned()) throw err;
      const code = (err as { code?: string }).code;
      last = `${ep.id}: ${code ? `${code}: ` : ''}${(err as Error).message}`;
      o.failed(ep, last, true);
      continue;
    }
    if (i === n - 1 || !isRetryableStatus(response.statusCode)) return { endpoint: ep, response };
    o.failed(ep, `status ${response.statusCode}`, false);
    await response.body.dump(); // frees the connection for the next request
    last = `${ep.id}: status ${response.statusCode}`;
  }
  throw new KvgateError(ErrorCode.UpstreamFailed, `all ${n} upstream attempts failed (last: ${last})`, { status: 503 });
}
