import { KvgateError } from '../shared/errors.js';
import type { PickResult, RequestUsage } from '../router/api.js';
import type { FleetRecorder } from './fleet-recorder.js';

/**
 * Phase 1 of issue 15: the gateway feeds the dashboard from its ingress, reading the request
 * handle (router/requestcontrol RequestHandle) around `schedule()` and `finish()`. Phase 2 moves
 * these calls into the lifecycle itself (the Director calling the recorder), and this file goes.
 */
interface HandleView {
  readonly id: string;
  readonly t0: number;
  pick?: PickResult;
  endpoint?: { id: string };
  attempts: number;
  ttftMs?: number;
  route?: { stream: boolean };
  schedule(): Promise<unknown>;
}

/** `h.schedule()`, recording the decision (or the shed); returns the recorder's ticket. */
export async function scheduleObserved(fleet: FleetRecorder, h: HandleView): Promise<number> {
  try {
    await h.schedule();
  } catch (err) {
    if (err instanceof KvgateError && err.status === 429) fleet.recordShed(h.id);
    throw err;
  }
  const pick = h.pick!;
  return fleet.recordDecision({ requestId: h.id, endpointId: pick.endpoints[0].id, prefixMatch: pick.prefixMatch, scores: () => pick.scores });
}

/** After `h.finish(...)`: failovers and the completion. `nowMs` on the handle's clock (performance.now). */
export function finishObserved(fleet: FleetRecorder, ticket: number, h: HandleView, status: number, nowMs = performance.now()): void {
  if (!h.endpoint) return;
  for (let i = 1; i < h.attempts; i++) fleet.recordRetry(ticket, h.endpoint.id);
  // The handle keeps usage private until phase 2 exposes it; its tap is idempotent.
  const usage = (h as unknown as { usage?: () => RequestUsage | undefined }).usage?.call(h);
  fleet.recordCompletion(ticket, {
    endpointId: h.endpoint.id,
    status,
    stream: h.route?.stream,
    ttftMs: h.ttftMs,
    e2eMs: nowMs - h.t0,
    promptTokens: usage?.promptTokens,
    completionTokens: usage?.completionTokens,
    cachedTokens: usage?.cachedTokens,
  });
}
