import type { EndpointState, PrefixSource, RequestUsage, RouteRequest } from '../api.js';
import type { KvEventsView, PromptTokenizer } from '../prefix/kv-events-view.js';
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
  /** Tokens per block (for converting matches into tokens). */
  blockTokens: number;
  /** Leading blocks per endpoint id (device-weighted for exact matches: a CPU-tier block counts less than 1). */
  matched: Map<string, number>;
  /** Where each candidate's match came from (set by the precise producer; absent = all approximate). */
  source?: Map<string, PrefixSource>;
}

/**
 * How a prefix consumer wants its matches: `required` — from the engines' KV events (a precise
 * producer is made for it, falling back per endpoint to the approximate index); `preferred` —
 * from KV events when this process has them, else approximate. Absent: approximate (GIE's).
 */
export type ExactPrefixWish = 'required' | 'preferred';

export interface Filter {
  readonly kind: 'filter';
  filter(ctx: CycleContext, endpoints: EndpointState[]): EndpointState[];
}

export interface Scorer {
  readonly kind: 'scorer';
  /** Needs ctx.prefix. */
  readonly needsPrefix?: boolean;
  readonly exactPrefix?: ExactPrefixWish;
  /** One score per endpoint (same order), any range: the profile clamps to [0, 1]. */
  score(ctx: CycleContext, endpoints: EndpointState[]): number[];
  /** Feedback hooks (optional). */
  onPicked?(ctx: CycleContext, endpoint: EndpointState): void;
  onFirstToken?(requestId: string, endpointId: string, nowMs: number): void;
  /** The request ended (any outcome) at `nowMs`, with the usage the ingress saw when it saw one. */
  onComplete?(requestId: string, nowMs?: number, usage?: RequestUsage): void;
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
  /** Needs `request.promptTokenIds`: the lifecycle tokenizes the prompt once before the pick. */
  readonly wantsTokenIds?: boolean;
  prepare(ctx: CycleContext, candidates: EndpointState[]): void;
  onPicked?(ctx: CycleContext, endpoint: EndpointState): void;
  /** The request's first response byte on `endpointId` (its prefill is done). */
  onFirstToken?(requestId: string, endpointId: string, nowMs: number): void;
  /** The request ended (any outcome). */
  onComplete?(requestId: string): void;
}

export type Plugin = Filter | Scorer | Picker | ProfileHandler | SaturationDetector | DataPlugin | DataProducer;
export type PluginKind = Plugin['kind'];

/** Everything a plugin factory may use besides its own parameters. */
export interface PluginEnv {
  name: string;
  /** The process's KV-event intake (exact index, stream states), when it has one. */
  kvEvents?: KvEventsView;
  /** Router-side tokenizer for precise prefix matching. */
  tokenizer?: PromptTokenizer;
}

/** What a plugin's `review` found in parameters its schema accepted. */
export interface ParameterReview {
  /** Conflicts the schema cannot express; `path` is relative to `parameters`. */
  errors?: { path: string; message: string }[];
  /** What kvgate maps to another setting or ignores, said once at load. */
  warnings?: string[];
}

export interface PluginDefinition<P extends z.ZodType = z.ZodType> {
  type: string;
  /** Other current names of the same plugin (loaded silently). */
  aliases?: string[];
  /** Former names, each with the note a config using it is warned with (which release renamed it). */
  renamedFrom?: Record<string, string>;
  kind: PluginKind;
  /**
   * Set when one plugin of this type serves the whole router (its parameters are read from it
   * alone): what that one plugin gives, for the load error (config.ts) that a second one is.
   */
  onePerConfig?: string;
  /** Strict schema of `parameters` (unknown fields are errors). */
  parameters: P;
  /** Load-time checks and notes on parameters that passed the schema. */
  review?(params: z.infer<P>): ParameterReview;
  create(params: z.infer<P>, env: PluginEnv): Plugin;
}
