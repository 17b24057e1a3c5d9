import { Band, type QueuedItem } from './bands.js';
import type { BandStats, DropReason, FlowControllerOptions, FlowRequest, QueueOutcome, QueueTicket, TimerHandle } from './types.js';

const NOT_QUEUED: QueueTicket = { queued: false, cancel() {} };

function outcomeOf(reason: DropReason): QueueOutcome {
  switch (reason) {
    case 'rejected-saturated':
      return 'RejectedCapacity';
    case 'rejected-ttl-expired':
      return 'EvictedTTL';
    case 'rejected-context-cancelled':
      return 'EvictedContextCancelled';
    case 'evicted-queue-pressure':
      return 'EvictedOther';
    default:
      return 'RejectedOther';
  }
}

/**
 * The gateway queue (GIE's flow controller, restated): requests that cannot be dispatched now wait
 * here, in priority bands (higher first; strict), round robin between the fairness flows of a band,
 * first come first served within a flow. Sheddable requests (priority < 0) do not wait unless
 * `shedSheddable` is false: they go at once or are dropped. Each waits at most `ttlMs`; the queue holds at most
 * `maxRequests` requests and `maxBytes` bytes, and when full a request of higher priority pushes
 * out the newest request of the lowest band below it (`evicted-queue-pressure`), else it is
 * refused (`rejected-saturated`).
 *
 * A request goes straight through when nothing waits and it can be dispatched; otherwise the
 * dispatch cycle (`pump`) runs whenever capacity may have freed — the owner calls it when a
 * request finishes or metrics arrive — and every `tickMs` while anything waits.
 *
 * Pure: time from `now`, timers from `timers`; no I/O. Not re-entrant by design: a dispatch that
 * finishes another request synchronously only marks the cycle to run again.
 */
export class FlowController {
  private readonly bands: Band[] = [];
  private readonly byPriority = new Map<number, Band>();
  private size = 0;
  private bytes = 0;
  private pumping = false;
  private again = false;
  private tick?: TimerHandle;
  private closedReason?: DropReason;

  constructor(private readonly o: FlowControllerOptions) {}

  /** Requests waiting now. */
  get queuedRequests(): number {
    return this.size;
  }

  /** Bytes waiting now. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /**
   * Admits a request: dispatches it at once when nothing waits and it can go, else queues it (or
   * drops it when the queue is full). Returns its ticket (`queued` false when already decided).
   */
  submit(req: FlowRequest): QueueTicket {
    if (this.closedReason) {
      this.left(req, outcomeOf(this.closedReason), 0);
      req.onDropped(this.closedReason);
      return NOT_QUEUED;
    }
    const shed = req.priority < 0 && this.o.shedSheddable !== false;
    if (this.size === 0) {
      const r = req.tryDispatch();
      if (r !== 'blocked') {
        this.left(req, r === 'dispatched' ? 'Dispatched' : 'RejectedOther', 0);
        return NOT_QUEUED;
      }
    }
    if (shed || !this.makeRoom(req)) {
      this.left(req, 'RejectedCapacity', 0);
      req.onDropped('rejected-saturated');
      return NOT_QUEUED;
    }
    const item: QueuedItem = { req, enqueuedAt: this.o.now() };
    this.bandFor(req.priority).add(item);
    this.size++;
    this.bytes += req.bytes;
    if (this.o.ttlMs > 0) item.timer = this.o.timers.setTimer(this.o.ttlMs, () => this.drop(item, 'rejected-ttl-expired'));
    const ticket: QueueTicket = {
      get queued() {
        return item.flow !== undefined;
      },
      cancel: () => this.drop(item, 'rejected-context-cancelled'),
    };
    this.pump();
    if (this.size > 0) this.armTick();
    return ticket;
  }

  /**
   * Whether a request would be tried at once (nothing waits and the queue is open): then the
   * caller may dispatch it itself and report it with `passedThrough`, skipping `submit` — the
   * common case on the hot path, without a ticket or closures per request.
   */
  get idle(): boolean {
    return this.size === 0 && this.closedReason === undefined;
  }

  /** Records a request the caller dispatched (or failed) at once while `idle`: as submit would. */
  passedThrough(priority: number, dispatched: boolean): void {
    this.o.observer?.requestLeft(priority, dispatched ? 'Dispatched' : 'RejectedOther', 0);
  }

  /**
   * The dispatch cycle: bands from the highest priority down; in a band, flows in turn, one
   * request each, until a whole round dispatches nothing. A blocked request blocks its pool key
   * for the rest of the cycle (lower bands included: strict priority per endpoint set).
   */
  pump(): void {
    if (this.size === 0) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.cycle();
      } while (this.again && this.size > 0);
    } finally {
      this.pumping = false;
      this.sweep();
    }
  }

  private cycle(): void {
    const blocked = new Set<string>();
    for (let b = 0; b < this.bands.length; b++) {
      const band = this.bands[b];
      let idle = 0;
      while (band.requests > 0 && idle < band.ring.length) {
        const item = band.current()!.head!;
        const key = item.req.poolKey;
        if (blocked.has(key)) {
          band.advance();
          idle++;
          continue;
        }
        const r = item.req.tryDispatch();
        if (r === 'blocked') {
          blocked.add(key);
          band.advance();
          idle++;
          continue;
        }
        const flowStays = item.flow!.size > 1;
        this.unlink(item);
        if (flowStays) band.advance(); // else the ring shrank and the cursor already points at the next flow
        idle = 0;
        this.left(item.req, r === 'dispatched' ? 'Dispatched' : 'RejectedOther', this.o.now() - item.enqueuedAt);
      }
    }
  }

  /** Requests waiting in bands of priority `p` or higher. */
  queuedAtOrAbove(p: number): number {
    let n = 0;
    for (const b of this.bands) {
      if (b.priority < p) break; // highest first
      n += b.requests;
    }
    return n;
  }

  /** Queue occupancy per priority band, highest first. */
  stats(): BandStats[] {
    const now = this.o.now();
    return this.bands.map((b) => {
      const oldest = b.oldestEnqueuedAt();
      return { priority: b.priority, requests: b.requests, bytes: b.bytes, oldestAgeMs: oldest === undefined ? 0 : now - oldest };
    });
  }

  /** Drops every waiting request with `reason` and refuses new ones (shutdown). */
  close(reason: DropReason = 'rejected-shutting-down'): void {
    this.closedReason = reason;
    for (const band of [...this.bands]) {
      for (const f of [...band.ring]) for (let it = f.head; it; it = f.head) this.drop(it, reason);
    }
    this.tick?.cancel();
    this.tick = undefined;
  }

  private makeRoom(req: FlowRequest): boolean {
    if (req.bytes > this.o.maxBytes) return false;
    while (this.size + 1 > this.o.maxRequests || this.bytes + req.bytes > this.o.maxBytes) {
      const lowest = this.bands.findLast((b) => b.requests > 0);
      if (!lowest || lowest.priority >= req.priority) return false;
      this.drop(lowest.evictionCandidate()!, 'evicted-queue-pressure');
    }
    return true;
  }

  private drop(item: QueuedItem, reason: DropReason): void {
    if (!item.flow) return; // already left
    this.unlink(item);
    if (!this.pumping) this.sweep();
    this.left(item.req, outcomeOf(reason), this.o.now() - item.enqueuedAt);
    item.req.onDropped(reason);
  }

  private unlink(item: QueuedItem): void {
    item.timer?.cancel();
    item.timer = undefined;
    this.byPriority.get(item.req.priority)!.remove(item);
    this.size--;
    this.bytes -= item.req.bytes;
    if (this.size === 0) {
      this.tick?.cancel();
      this.tick = undefined;
    }
  }

  private bandFor(priority: number): Band {
    let band = this.byPriority.get(priority);
    if (!band) {
      band = new Band(priority);
      this.byPriority.set(priority, band);
      let i = 0;
      while (i < this.bands.length && this.bands[i].priority > priority) i++;
      this.bands.splice(i, 0, band);
    }
    return band;
  }

  /**
   * Bands exist only while they hold requests, so any number of distinct priorities costs only
   * what waits. (Not during a dispatch cycle, which walks the band list.)
   */
  private sweep(): void {
    for (let i = this.bands.length - 1; i >= 0; i--) {
      const band = this.bands[i];
      if (band.requests > 0) continue;
      this.byPriority.delete(band.priority);
      this.bands.splice(i, 1);
    }
  }

  private armTick(): void {
    if (this.tick || !this.o.tickMs) return;
    this.tick = this.o.timers.setTimer(this.o.tickMs, () => {
      this.tick = undefined;
      this.pump();
      if (this.size > 0) this.armTick();
    });
  }

  private left(req: FlowRequest, outcome: QueueOutcome, waitedMs: number): void {
    this.o.observer?.requestLeft(req.priority, outcome, waitedMs);
  }
}
