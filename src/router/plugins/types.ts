import type { EndpointState, RouteRequest } from '../api.js';
import type { z } from 'zod';

/** Per-request state every plugin of one scheduling cycle sees. */
export interface CycleContext {
  request: RouteRequest;
  nowMs: number;
  random: () => number;
  /** Metrics older than this count as missing (the datastore's staleness, default 2 s). */
  staleAfterMs: number;
  /** Matched prefix blocks per endpoint id (present when a prefix-aware plugin is configured). */
  prefix?: PrefixMatch;
  /** Datastore-wide view, for plugins that compare against the whole pool. */
  allEndpoints: EndpointState[];
}

export interface PrefixMatch {
  totalBlocks: number;
  /** Tokens per approximate block (for converting matches into tokens). */
  blockTokens: number;
  matched: Map<string, number>;
}

export interface Filter {
  readonly kind: 'filter';
  filter(ctx: CycleContext, endpoints: EndpointState[]): EndpointState[];
}

export interface Scorer {
  readonly kind: 'scorer';
  /** Needs ctx.prefix. */
  readonly needsPrefix?: boolean;
  /** One score per endpoint (same order), any range: the profile clamps to [0, 1]. */
  score(ctx: CycleContext, endpoints: EndpointState[]): number[];
  /** Feedback hooks (optional). */
  onPicked?(ctx: CycleContext, endpoint: EndpointState): void;
  onFirstToken?(requestId: string, endpointId: string, nowMs: number): void;
  onComplete?(requestId: string): void;
  /**
   * The part of the request's predicted time to first token on the endpoint that its load adds
   * (work queued ahead, decoding batch, KV pressure), ms — the request's own prefill excluded, so
   * a long prompt on an idle endpoint predicts 0; undefined when the endpoint's metrics are stale
   * or missing. Scorers that model TTFT provide it; flow control gates dispatch on it.
   */
  predictTtftMs?(ctx: CycleContext, endpoint: EndpointState): number | undefined;
}

export interface ScoredEndpoint {
  endpoint: EndpointState;
  total: number;
}

export interface Picker {
  readonly kind: 'picker';
  readonly needsPrefix?: boolean;
  /** Ordered choice: the first is the destination, the rest fallbacks (at most maxNumOfEndpoints). */
  pick(ctx: CycleContext, scored: ScoredEndpoint[]): EndpointState[];
}

export interface ProfileHandler {
  readonly kind: 'profile-handler';
}

export interface SaturationDetector {
  readonly kind: 'saturation-detector';
  /** Pool saturation: ≥ 1 means saturated. */
  saturation(ctx: CycleContext, endpoints: EndpointState[]): number;
}

/** Data-layer plugin types kvgate does built in (accepted for config compatibility). */
export interface DataPlugin {
  readonly kind: 'data';
}

/**
 * A plugin that owns per-request data other plugins consume (GIE's DataProducer), e.g. the
 * prefix index filling `ctx.prefix`. It runs before the filters, hears the pick (to update its
 * state), and may implement DatastoreListener to hear endpoint removals and metrics.
 */
export interface DataProducer {
  readonly kind: 'producer';
  /** The CycleContext field it fills. */
  readonly produces: 'prefix';
  prepare(ctx: CycleContext, candidates: EndpointState[]): void;
  onPicked?(ctx: CycleContext, endpoint: EndpointState): void;
}

export type Plugin = Filter | Scorer | Picker | ProfileHandler | SaturationDetector | DataPlugin | DataProducer;
export type PluginKind = Plugin['kind'];

/** Everything a plugin factory may use besides its own parameters. */
export interface PluginEnv {
  name: string;
}

export interface PluginDefinition<P extends z.ZodType = z.ZodType> {
  type: string;
  aliases?: string[];
  kind: PluginKind;
  /** Strict schema of `parameters` (unknown fields are errors). */
  parameters: P;
  create(params: z.infer<P>, env: PluginEnv): Plugin;
}
