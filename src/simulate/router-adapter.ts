import { createRouter, type EffectiveConfig, type EndpointPicker } from '../router/index.js';
import type { EndpointInfo, EndpointMetrics, RequestUsage, RouteRequest } from '../router/api.js';
import { KvgateError } from '../shared/errors.js';

/** What the simulated gateway does with an admitted request. */
export interface AdmitCallbacks {
  /** Send the request upstream to `endpoint` now. */
  dispatch(endpoint: EndpointInfo, prefixMatch?: { matchedBlocks: number; totalBlocks: number }): void;
  /** Answer the client with an error now (shed 429, no endpoint 503, …). */
  reject(status: number, code: string, message: string): void;
}

/**
 * The only place the simulator drives the router: the same calls, in the same order, the gateway
 * (src/gateway/server.ts) makes — pick on arrival, first byte, completion with the usage tapped
 * from the stream — with virtual time for `nowMs`. Keeping them here means switching to the
 * request-control lifecycle (admission, flow-control queue, pick, retry) is a change to this file.
 *
 * Today the gateway has no queue of its own: requests the router accepts go straight upstream,
 * and `admit` answers synchronously.
 */
export class RouterAdapter {
  readonly router: EndpointPicker;

  constructor(config: EffectiveConfig, random: () => number, endpoints: EndpointInfo[]) {
    this.router = createRouter({ config, random });
    this.router.datastore.setEndpoints(endpoints);
  }

  updateMetrics(endpointId: string, metrics: EndpointMetrics): void {
    this.router.datastore.updateMetrics(endpointId, metrics);
  }

  admit(route: RouteRequest, nowMs: number, cb: AdmitCallbacks): void {
    let pick;
    try {
      pick = this.router.pick(route, nowMs);
    } catch (err) {
      if (err instanceof KvgateError) return cb.reject(err.status, err.code, err.message);
      throw err;
    }
    cb.dispatch(pick.endpoints[0], pick.prefixMatch);
  }

  /** The gateway saw the first response byte. */
  firstByte(requestId: string, nowMs: number): void {
    this.router.onFirstToken(requestId, nowMs);
  }

  /** The response ended (any outcome). */
  complete(requestId: string, nowMs: number, usage?: RequestUsage): void {
    this.router.onComplete(requestId, nowMs, usage);
  }
}
