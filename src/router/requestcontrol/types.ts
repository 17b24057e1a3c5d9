import type { Logger } from '../../shared/logger.js';
import type { EndpointScore, EndpointState } from '../api.js';
import type { EndpointPicker } from '../router.js';
import type { EppMetrics } from '../observability/epp-metrics.js';
import type { Objectives } from '../objectives.js';
import type { ChatTemplates } from '../prompt/chat-templates.js';
import type { FlowControl, FlowControlSettings } from '../flowcontrol/index.js';

/** What the lifecycle tells the pool runtime about endpoints it used (passive health, model lists). */
export interface EndpointFeedback {
  /** An attempt reached the endpoint and got an answer. */
  succeeded(endpointId: string): void;
  /** An attempt failed at the transport level (connect error, reset, timeout). */
  failed(endpointId: string, reason: string): void;
  /** The endpoint answered 404 for a model it was thought to serve: its model list is stale. */
  modelMissing(endpointId: string, model: string): void;
}

export interface DirectorOptions {
  router: EndpointPicker;
  metrics?: EppMetrics;
  logger?: Logger;
  /** One JSON line per request (no prompt or completion text). Default on. */
  accessLog?: boolean;
  /** Monotonic milliseconds (performance.now in real time, a virtual clock in simulation). */
  now?: () => number;
  /** Endpoints tried per request before failing (the gateway's --max-attempts). Default 3. */
  maxAttempts?: number;
  /** Add x-kvgate-scores (every candidate's per-scorer scores) to responses. */
  debugScores?: boolean;
  /** Honour client priority / objective headers. */
  trustRoutingHeaders?: boolean;
  defaultPriority?: number;
  /** InferenceObjective name → priority (a live map: a Kubernetes watch may update it). */
  objectives?: Objectives;
  chatTemplates?: ChatTemplates;
  feedback?: EndpointFeedback;
  /**
   * Ask the engine for usage on streamed requests whose client did not, and strip the extra
   * usage event before the client sees it, so every request has token counts. Default on.
   */
  usageOnEveryStream?: boolean;
  /** Hears every decision and outcome (the live dashboard's FleetRecorder). */
  observer?: LifecycleObserver;
  /** The gateway queue and dispatch gate (router/flowcontrol); on by default. */
  flowControl?: FlowControlSettings;
}

/**
 * What a live view of the fleet (observability/FleetRecorder) hears from the lifecycle: one call
 * per decision, failover, shed and completion, on the request path, so implementations must be
 * cheap (array writes, no I/O).
 */
export interface LifecycleObserver {
  /** A routing decision right after the pick; returns a ticket for the same request's later calls. */
  recordDecision(d: { requestId: string; endpointId: string; prefixMatch?: { matchedBlocks: number; totalBlocks: number }; scores?: () => readonly EndpointScore[] }): number;
  recordRetry(ticket: number, endpointId: string): void;
  /** A request shed before any endpoint (429 / 503 from admission). */
  recordShed(requestId: string, status?: number): void;
  /** Every request's outcome; ticket -1 and no endpointId for one answered before its pick. */
  recordCompletion(
    ticket: number,
    c: { endpointId?: string; status: number; errorCode?: string; stream?: boolean; ttftMs?: number; e2eMs?: number; promptTokens?: number; completionTokens?: number; cachedTokens?: number },
  ): void;
}

/** One request as an ingress received it. */
export interface InferenceInput {
  ingress: 'gateway' | 'epp';
  /** Request path without the query string, e.g. "/v1/chat/completions". */
  path: string;
  /** Lower-cased request headers. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Endpoint ids or hosts the data plane allows (ext_proc subset hint); undefined = all. */
  subset?: string[];
}

/** What a request handle needs from the Director that made it. */
export interface LifecycleHost {
  readonly router: EndpointPicker;
  readonly opts: DirectorOptions;
  readonly logger: Logger;
  readonly now: () => number;
  readonly draining: boolean;
  readonly flow: FlowControl;
  candidates(model: string, subset?: string[]): EndpointState[];
}
