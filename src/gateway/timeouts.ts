/**
 * The gateway's timeouts, ms (each a `kvgate serve` / `up` flag, see cli/options.ts). 0 turns one
 * off. Defaults: generous for LLM traffic (long prompts, long generations), short enough that a
 * stalled client or replica cannot hold memory or a request for long.
 */
export interface GatewayTimeouts {
  /** `--request-headers-timeout`: a client's request headers must arrive within this (408). */
  requestHeadersMs: number;
  /** `--request-body-idle-timeout`: longest gap between request body bytes (408, buffers freed). */
  requestBodyIdleMs: number;
  /** `--request-body-timeout`: the whole request body must arrive within this (408, buffers freed). */
  requestBodyMs: number;
  /** `--keep-alive-timeout`: idle client connections close after this (above load balancers' 60 s). */
  keepAliveMs: number;
  /** `--upstream-connect-timeout`: TCP/TLS connect to a model server (fails over). */
  upstreamConnectMs: number;
  /**
   * `--upstream-first-byte-timeout`: a streamed request's response headers must come within this
   * (vLLM sends them when it accepts the request); fails over. A non-streamed response's headers
   * come only with the whole completion, so the request deadline bounds those instead.
   */
  upstreamFirstByteMs: number;
  /** `--upstream-idle-timeout`: longest gap between response body chunks (before the first: fails over; after: an SSE error event ends the stream). */
  upstreamIdleMs: number;
  /** `--request-timeout`: total deadline of a request from its arrival, queueing included (504, or an SSE error event once streaming). */
  requestMs: number;
}

export const DEFAULT_TIMEOUTS: GatewayTimeouts = {
  requestHeadersMs: 15_000,
  requestBodyIdleMs: 10_000,
  requestBodyMs: 60_000,
  keepAliveMs: 65_000,
  upstreamConnectMs: 5_000,
  upstreamFirstByteMs: 60_000,
  upstreamIdleMs: 60_000,
  requestMs: 600_000,
};
