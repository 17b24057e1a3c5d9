/**
 * The fleet as the dashboard, `kvgate top` and the SSE feed see it: plain JSON-safe data, built once
 * per second by `FleetRecorder.snapshot()`. Fields may be added; names are a contract with the
 * browser bundle (web/dashboard) and `kvgate top`, so do not rename them.
 *
 * Units are in the names: `Ms` milliseconds, `atMs` Unix epoch milliseconds, ratios 0..1.
 */

/**
 * Why a request went where it went:
 * - `prefix-hit`: the chosen replica already holds part of the prompt's prefix (prefix index match > 0);
 * - `load`: no prefix match — the load scorers decided;
 * - `fallback`: the request moved to a later endpoint of the pick's list (failover after an error);
 * - `shed`: rejected (429) because the pool was saturated or no candidate survived the filters.
 */
export type DecisionReason = 'prefix-hit' | 'load' | 'fallback' | 'shed';
export const DECISION_REASONS: readonly DecisionReason[] = ['prefix-hit', 'load', 'fallback', 'shed'];

export type ReasonCounts = Record<DecisionReason, number>;

export interface ReplicaSnapshot {
  /** Endpoint id, "host:port". */
  id: string;
  url: string;
  healthy: boolean;
  /** Engine gauges as last scraped (vllm:num_requests_running / _waiting / kv_cache_usage_perc); null before the first scrape. */
  running: number | null;
  waiting: number | null;
  kvUsage: number | null;
  /** Requests waiting in the gateway's own queue for this replica (0 until flow control exists). */
  gatewayQueue: number;
  /** Requests this router dispatched there and has not seen finish. */
  inFlight: number;
  /** Σ cached ÷ Σ prompt tokens of responses served there, exponentially decayed (see `hitRateHalfLifeS`); null before any usage. */
  prefixHitRate: number | null;
  /** Totals since start: completed requests served there, of which errors (status ≥ 400), and their prompt / cached tokens. */
  requests: number;
  errors: number;
  promptTokens: number;
  cachedTokens: number;
  /** Age of the last metrics scrape; null when never scraped. */
  metricsAgeMs: number | null;
}

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  /** Observations in the window. */
  count: number;
}

export interface ScoreRow {
  endpoint: string;
  /** Σ weight × score over the profile's scorers. */
  total: number;
  /** Per scorer plugin name: its clamped score 0..1 before weighting. */
  byPlugin: Record<string, number>;
}

export interface RecentRequest {
  /** Monotonic sequence number of the decision. */
  seq: number;
  atMs: number;
  requestId: string;
  /** Replica that served (after any failover); null when shed. */
  endpoint: string | null;
  reason: DecisionReason;
  /** null while in flight. */
  status: number | null;
  ttftMs: number | null;
  tpotMs: number | null;
  promptTokens: number | null;
  cachedTokens: number | null;
  /** Candidates' scores, best first (at most `scoresPerRequest`). */
  scores: ScoreRow[];
}

/** One second of history. */
export interface HistoryPoint {
  atMs: number;
  /** Decisions in this second, by reason. */
  decisions: ReasonCounts;
  completions: number;
  errors: number;
  /** Percentiles over the trailing `pointWindowS` seconds (null when nothing finished then). */
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  tpotP50Ms: number | null;
  tpotP99Ms: number | null;
  /** Per replica id, sampled at this second. */
  replicas: Record<string, { running: number | null; waiting: number | null; kvUsage: number | null; inFlight: number; gatewayQueue: number }>;
}

export interface FleetSnapshot {
  version: 1;
  pool: string;
  atMs: number;
  replicas: ReplicaSnapshot[];
  latency: {
    /** Window the percentiles cover. */
    windowS: number;
    ttftMs: Percentiles;
    tpotMs: Percentiles;
  };
  /** Mean decisions per second over the last `rateWindowS` seconds, by reason. */
  decisionsPerSecond: ReasonCounts;
  rateWindowS: number;
  /** Totals since start. */
  decisionsTotal: ReasonCounts;
  completions: { total: number; errors: number; promptTokens: number; cachedTokens: number };
  /** Newest first. */
  recent: RecentRequest[];
}

/** What the SSE feed sends: the first event carries the history, later ones the newest point. */
export interface FleetEvent {
  snapshot: FleetSnapshot;
  history?: HistoryPoint[];
  point?: HistoryPoint;
}

export function zeroReasons(): ReasonCounts {
  return { 'prefix-hit': 0, load: 0, fallback: 0, shed: 0 };
}

/**
 * Local wall-clock time as HH:MM:SS, 00–23. `hourCycle: 'h23'`, not `hour12: false`: with the
 * latter, ICU's en-US pattern shows the hour after midnight as 24 ("24:58:47").
 */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
