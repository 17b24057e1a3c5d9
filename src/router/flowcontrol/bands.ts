import type { FlowRequest, TimerHandle } from './types.js';

/** One waiting request, linked into its flow's FIFO. */
export interface QueuedItem {
  readonly req: FlowRequest;
  readonly enqueuedAt: number;
  timer?: TimerHandle;
  flow?: Flow;
  prev?: QueuedItem;
  next?: QueuedItem;
}

/** One fairness flow of one band: first come, first served (GIE's default ordering policy, FCFS). */
export class Flow {
  head?: QueuedItem;
  tail?: QueuedItem;
  size = 0;

  constructor(readonly id: string) {}

  push(item: QueuedItem): void {
    item.flow = this;
    item.prev = this.tail;
    item.next = undefined;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.size++;
  }

  /** Unlinks `item` (O(1), from anywhere in the flow). */
  remove(item: QueuedItem): void {
    if (item.prev) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.prev = item.prev;
    else this.tail = item.prev;
    item.prev = item.next = item.flow = undefined;
    this.size--;
  }
}

/**
 * One priority band: its flows take turns (round robin, GIE's fairness policy between flows of a
 * band), so one client with a thousand waiting requests does not starve one with a single request.
 */
export class Band {
  private readonly byId = new Map<string, Flow>();
  /** Flows with waiting requests, in turn order; `cursor` is whose turn it is. */
  readonly ring: Flow[] = [];
  private cursor = 0;
  requests = 0;
  bytes = 0;

  constructor(readonly priority: number) {}

  add(item: QueuedItem): void {
    let f = this.byId.get(item.req.flowId);
    if (!f) {
      f = new Flow(item.req.flowId);
      this.byId.set(f.id, f);
      this.ring.push(f);
    }
    f.push(item);
    this.requests++;
    this.bytes += item.req.bytes;
  }

  remove(item: QueuedItem): void {
    const f = item.flow!;
    f.remove(item);
    this.requests--;
    this.bytes -= item.req.bytes;
    if (f.size === 0) {
      // An empty flow leaves at once (GIE garbage-collects idle flows after minutes): no state
      // per client outlives its requests.
      this.byId.delete(f.id);
      const i = this.ring.indexOf(f);
      this.ring.splice(i, 1);
      if (i < this.cursor) this.cursor--;
      if (this.cursor >= this.ring.length) this.cursor = 0;
    }
  }

  /** The flow whose turn it is (undefined when the band is empty). */
  current(): Flow | undefined {
    return this.ring[this.cursor];
  }

  /** Passes the turn to the next flow. */
  advance(): void {
    if (this.ring.length > 0) this.cursor = (this.cursor + 1) % this.ring.length;
  }

  /** The newest request of the band's largest flow: what queue pressure evicts first. */
  evictionCandidate(): QueuedItem | undefined {
    let largest: Flow | undefined;
    for (const f of this.ring) if (!largest || f.size > largest.size) largest = f;
    return largest?.tail;
  }

  /** Enqueue time of the band's oldest request. */
  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const f of this.ring) if (f.head && (oldest === undefined || f.head.enqueuedAt < oldest)) oldest = f.head.enqueuedAt;
    return oldest;
  }
}
