import { KvgateError, ErrorCode } from '../../shared/errors.js';
import type { EffectiveConfig } from '../config/config.js';
import { durationMs } from '../plugins/metrics-view.js';
import { FlowController } from './flow-controller.js';
import { SaturationGate, type SaturationGateOptions } from './saturation-gate.js';
import { SheddableEvictor } from './sheddable-evictor.js';
import { realTimers, type DropReason, type FlowControlObserver, type TimerScheduler } from './types.js';

/** The flow-control knobs a command exposes (`--queue-timeout`, `--max-queue-requests`, …). */
export interface FlowControlSettings {
  /** Queue requests that cannot be dispatched now (default on); off = GIE's legacy admission (shed sheddable when saturated, send the rest). */
  enabled?: boolean;
  /** `--max-queue-requests` (default 5,000, GIE's per-band default). */
  maxQueueRequests?: number;
  /** `--max-queue-bytes` (default 128 MiB). */
  maxQueueBytes?: number;
  /** `--queue-timeout`, ms (default 60 s, GIE's defaultRequestTTL); 0 = wait as long as the client does. */
  queueTimeoutMs?: number;
  /** `--max-num-seqs-factor` (default 1.5). */
  maxNumSeqsFactor?: number;
  /** `--max-num-seqs`: for endpoints that do not report it (default 256). */
  defaultMaxNumSeqs?: number;
  /** `--max-num-batched-tokens`: for endpoints that do not report it (default 2,048). */
  defaultMaxNumBatchedTokens?: number;
  /** `--saturation-ttft`, ms (default 2 s): with a TTFT-predicting scorer, the predicted TTFT that counts as saturated; 0 = off. */
  ttftThresholdMs?: number;
  /** `--sheddable-max-fill` (default 0.9): the share of an endpoint's batch slots sheddable requests may take. */
  sheddableMaxFill?: number;
  /**
   * `--no-evict-sheddable` turns off (default on): sheddable requests at an endpoint are evicted
   * (429 `evicted-priority`) when a request of higher priority needs their batch slot.
   */
  evictSheddable?: boolean;
  /** Dispatch cycle period while requests wait, ms (default 20). */
  tickMs?: number;
  /** Timers (default real; a simulator injects virtual ones). */
  timers?: TimerScheduler;
}

export const FLOW_CONTROL_DEFAULTS = {
  maxQueueRequests: 5000,
  maxQueueBytes: 128 * 1024 * 1024,
  queueTimeoutMs: 60_000,
  maxNumSeqsFactor: 1.5,
  defaultMaxNumSeqs: 256,
  defaultMaxNumBatchedTokens: 2048,
  ttftThresholdMs: 2000,
  sheddableMaxFill: 0.9,
  tickMs: 20,
  evictSheddable: true,
} as const;

/** Seconds a rejected client is told to wait (Retry-After). */
const RETRY_AFTER_S = '1';

/**
 * The saturation thresholds of the config's saturation detector (GIE's utilization-detector
 * parameters and defaults: queue 5, KV 0.8, staleness 200 ms, headroom 0).
 */
export function detectorThresholds(config: EffectiveConfig): Pick<SaturationGateOptions, 'queueDepthThreshold' | 'kvCacheUtilThreshold' | 'metricsStalenessMs' | 'headroom'> {
  const spec = config.plugins.find((p) => p.name === config.saturationDetector.pluginRef);
  const p = (spec?.type === 'utilization-detector' ? spec.parameters : {}) as Record<string, unknown>;
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  const stale = p.metricsStalenessThreshold;
  return {
    queueDepthThreshold: num(p.queueDepthThreshold, 5),
    kvCacheUtilThreshold: num(p.kvCacheUtilThreshold, 0.8),
    metricsStalenessMs: typeof stale === 'string' || typeof stale === 'number' ? durationMs(stale) : 200,
    headroom: num(p.headroom, 0),
  };
}

/**
 * The error a dropped request gets, as GIE answers: 429 with Retry-After for sheddable requests
 * (priority < 0), 503 for the others, each with `x-llm-d-request-dropped-reason`.
 */
export function dropError(reason: DropReason, priority: number, queueTimeoutMs: number): KvgateError {
  const headers = { 'retry-after': RETRY_AFTER_S, 'x-llm-d-request-dropped-reason': reason };
  const sheddable = priority < 0;
  const why =
    reason === 'rejected-ttl-expired'
      ? `it waited the queue timeout (${queueTimeoutMs / 1000} s) without an endpoint free to take it`
      : reason === 'evicted-queue-pressure'
        ? 'a request of higher priority needed its place in the full queue'
        : reason === 'evicted-priority'
          ? 'a request of higher priority needed its batch slot'
        : reason === 'rejected-saturated'
          ? sheddable
            ? // Sheddable requests never wait: no queue was full, no endpoint had a slot they may take.
              'no endpoint has a free batch slot for sheddable requests (they never wait in the gateway queue; --sheddable-max-fill)'
            : 'the pool is saturated and the gateway queue is full'
          : reason === 'rejected-shutting-down'
            ? 'the router is shutting down'
            : 'the client went away while it waited';
  if (reason === 'evicted-priority') return new KvgateError(ErrorCode.Shed, `request evicted by flow control: ${why}`, { status: 429, headers });
  if (sheddable) return new KvgateError(ErrorCode.Shed, `request dropped (sheddable): ${why}`, { status: 429, headers });
  const code = reason === 'rejected-ttl-expired' ? ErrorCode.QueueTimeout : reason === 'rejected-shutting-down' || reason === 'rejected-context-cancelled' ? ErrorCode.NotReady : ErrorCode.Overloaded;
  return new KvgateError(code, `request dropped: ${why}`, { status: 503, headers });
}

/**
 * Flow control for one Director: the gateway queue (FlowController) and the dispatch gate
 * (SaturationGate) with their settings. Pure like its parts: time and timers are injected.
 */
export class FlowControl {
  readonly enabled: boolean;
  readonly queue: FlowController;
  readonly gate: SaturationGate;
  readonly queueTimeoutMs: number;
  /** In-flight sheddable requests that requests of higher priority may evict (undefined: eviction off). */
  readonly evictor?: SheddableEvictor;
  private observers: FlowControlObserver[] = [];

  constructor(settings: FlowControlSettings, config: EffectiveConfig, now: () => number) {
    const s = { ...FLOW_CONTROL_DEFAULTS, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) } as Required<FlowControlSettings>;
    this.enabled = settings.enabled !== false;
    this.queueTimeoutMs = s.queueTimeoutMs;
    if (this.enabled && s.evictSheddable) this.evictor = new SheddableEvictor();
    this.gate = new SaturationGate({
      ...detectorThresholds(config),
      maxNumSeqsFactor: s.maxNumSeqsFactor,
      defaultMaxNumSeqs: s.defaultMaxNumSeqs,
      defaultMaxNumBatchedTokens: s.defaultMaxNumBatchedTokens,
      ttftThresholdMs: s.ttftThresholdMs || undefined,
      sheddableMaxFill: s.sheddableMaxFill,
    });
    this.queue = new FlowController({
      now,
      timers: settings.timers ?? realTimers,
      maxRequests: s.maxQueueRequests,
      maxBytes: s.maxQueueBytes,
      ttlMs: s.queueTimeoutMs,
      tickMs: s.tickMs,
      observer: { requestLeft: (p, o, w) => this.observers.forEach((x) => x.requestLeft(p, o, w)) },
    });
  }

  /** Adds a listener for requests leaving flow control (metrics). */
  observe(o: FlowControlObserver): void {
    this.observers.push(o);
  }
}
