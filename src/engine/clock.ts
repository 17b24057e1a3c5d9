import type { Clock } from './types.js';

/** Wall-clock time for `kvgate sim`. Zero-delay timers use setImmediate so I/O is not starved. */
export class RealClock implements Clock {
  now(): number {
    return performance.now();
  }
  setTimer(fn: () => void, delayMs: number): unknown {
    if (delayMs <= 0) return { immediate: setImmediate(fn) };
    return { timeout: setTimeout(fn, delayMs) };
  }
  clearTimer(handle: unknown): void {
    const h = handle as { immediate?: NodeJS.Immediate; timeout?: NodeJS.Timeout };
    if (h?.immediate) clearImmediate(h.immediate);
    if (h?.timeout) clearTimeout(h.timeout);
  }
}

interface VirtualTimer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Discrete-event time: timers fire in (due time, insertion) order and time jumps straight to the
 * next due timer, so a simulation runs as fast as the CPU allows.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private heap: VirtualTimer[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    const timer: VirtualTimer = { due: this.t + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as VirtualTimer).cancelled = true;
  }

  /** Runs timers due at or before `untilMs` and leaves the clock at `untilMs`. */
  run(untilMs: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.due > untilMs) break;
      this.pop();
      if (top.cancelled) continue;
      this.t = top.due;
      top.fn();
    }
    if (untilMs > this.t) this.t = untilMs;
  }

  /** Runs until no timers remain (or `maxEvents` fired, a guard against livelock). Returns events fired. */
  runUntilIdle(maxEvents = 10_000_000): number {
    let n = 0;
    while (this.heap.length > 0 && n < maxEvents) {
      const top = this.pop();
      if (top.cancelled) continue;
      this.t = top.due;
      top.fn();
      n++;
    }
    return n;
  }

  get pendingTimers(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }

  private less(a: VirtualTimer, b: VirtualTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(x: VirtualTimer): void {
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

  private pop(): VirtualTimer {
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
