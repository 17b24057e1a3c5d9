import type { Clock } from '../engine/types.js';

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * The simulation's one clock: discrete-event virtual time (timers fire in due-time then insertion
 * order; time jumps to the next timer), as the engine's VirtualClock, plus what driving the real
 * request lifecycle needs — its API is promise-based, so after an event that started or advanced
 * promise work (`settleAfterThisEvent()`) the loop lets every pending continuation run, at the
 * same virtual instant, before it fires the next timer. Nothing here reads a wall clock, and
 * continuations run in a fixed order, so a run is reproducible.
 */
export class EventLoop implements Clock {
  private t = 0;
  private seq = 0;
  private heap: Timer[] = [];
  private settle = false;
  /** Timers fired so far. */
  events = 0;

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    const timer: Timer = { due: this.t + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as Timer).cancelled = true;
  }

  /** The current event handed work to promises: let their continuations run before time moves on. */
  settleAfterThisEvent(): void {
    this.settle = true;
  }

  /** Runs until no timer is left and no continuation is pending. */
  async run(): Promise<void> {
    for (;;) {
      if (this.settle) {
        this.settle = false;
        // setImmediate runs once the microtask queue is empty: every continuation has run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const top = this.heap[0];
      if (!top) return;
      this.pop();
      if (top.cancelled) continue;
      this.t = top.due;
      this.events++;
      top.fn();
    }
  }

  private less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Timer {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
