/**
 * The contracts of kvgate's flow control (router/flowcontrol): the gateway queue between a
 * request's admission and its dispatch to an endpoint, after GIE's flow-control layer.
 *
 * Everything here is pure: no I/O, no global timers. Time comes from an injected clock and
 * timers from an injected {@link TimerScheduler}, so a virtual-time simulator runs the same code.
 */

/** A cancellable timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Timers in the caller's time: real (setTimeout) in the gateway, virtual in a simulator. */
export interface TimerScheduler {
  /** Calls `fn` once, `delayMs` from now (same unit and clock as `now()`). */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/** Real timers that never keep the process alive on their own. */
export const realTimers: TimerScheduler = {
  setTimer(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

/** What a dispatch attempt did with the request at the head of its flow. */
export type DispatchResult =
  /** Sent: an endpoint was picked and bookkeeping started. */
  | 'dispatched'
  /** Nothing may take it now (the pool is saturated for it): it keeps its place. */
  | 'blocked'
  /** It failed for its own reasons (no endpoint serves it any more, say) and answered itself. */
  | 'rejected';

/**
 * Why the queue gave a request up, as GIE's `x-llm-d-request-dropped-reason` values:
 * `rejected-saturated` (the queue is full), `rejected-ttl-expired` (waited `--queue-timeout`),
 * `rejected-context-cancelled` (the client went away), `rejected-shutting-down`,
 * `evicted-queue-pressure` (pushed out of a full queue by a request of higher priority), and for a
 * sheddable request already at an endpoint, `evicted-priority` (ended to free its batch slot for a
 * request of higher priority; see SheddableEvictor).
 */
export type DropReason = 'rejected-saturated' | 'rejected-ttl-expired' | 'rejected-context-cancelled' | 'rejected-shutting-down' | 'evicted-queue-pressure' | 'evicted-priority';

/**
 * GIE's flow-control queue outcomes (the `outcome` label of
 * `inference_extension_flow_control_request_queue_duration_seconds`).
 */
export type QueueOutcome = 'Dispatched' | 'RejectedCapacity' | 'RejectedOther' | 'EvictedTTL' | 'EvictedContextCancelled' | 'EvictedOther';

/** One request as the queue sees it. */
export interface FlowRequest {
  /** Fairness flow (see flowIdOf): flows of one priority band take turns. */
  readonly flowId: string;
  /** Priority band: higher goes first; negative is sheddable. */
  readonly priority: number;
  /** Bytes the request holds while queued (its body), counted against `maxQueueBytes`. */
  readonly bytes: number;
  /**
   * The endpoint set it needs (model and subset): when one request of a pool key is blocked, the
   * others of that key are not tried again in the same dispatch cycle, at any priority below.
   */
  readonly poolKey: string;
  /** Tries to dispatch now (see DispatchResult). Must not throw. */
  tryDispatch(): DispatchResult;
  /** The queue gave it up (never called after 'dispatched' or 'rejected'). */
  onDropped(reason: DropReason): void;
}

/** A queued request's handle for its owner. */
export interface QueueTicket {
  /** Still waiting in the queue. */
  readonly queued: boolean;
  /** The client went away: leave the queue at once (`rejected-context-cancelled`). No-op when not queued. */
  cancel(): void;
}

/** Queue occupancy of one priority band. */
export interface BandStats {
  priority: number;
  requests: number;
  bytes: number;
  /** Age of the band's oldest waiting request, ms (0 when empty). */
  oldestAgeMs: number;
}

/** What a metrics sink hears from the queue (cheap calls on the request path). */
export interface FlowControlObserver {
  /** A request left flow control (dispatched at once, after waiting, or dropped). */
  requestLeft(priority: number, outcome: QueueOutcome, waitedMs: number): void;
}

export interface FlowControllerOptions {
  /** Monotonic milliseconds. */
  now: () => number;
  timers: TimerScheduler;
  /** Most requests waiting at once, all bands together (GIE's per-band default is 5,000). */
  maxRequests: number;
  /** Most request bytes waiting at once, all bands together. */
  maxBytes: number;
  /** Longest wait before `rejected-ttl-expired` (GIE's defaultRequestTTL, 60 s). 0 = no limit. */
  ttlMs: number;
  /**
   * While requests wait, the dispatch cycle also runs this often (ms), besides the events that
   * free capacity (a request finished, fresh metrics), so no change of saturation is missed.
   */
  tickMs?: number;
  /**
   * Sheddable requests (priority < 0) never wait (default true): they are dispatched at once when
   * nothing waits and the pool has room for them, else dropped `rejected-saturated` (429) — GIE's
   * admission for sheddable traffic, so their clients hear "busy" at once and back off instead of
   * holding a queue place a critical request may need.
   */
  shedSheddable?: boolean;
  observer?: FlowControlObserver;
}
