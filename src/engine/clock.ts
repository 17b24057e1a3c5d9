import type { Clock } from './types.js';
import { TimerQueue, type VirtualTimer } from './timer-queue.js';

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

/**
 * Discrete-event time: timers fire in (due time, insertion) order and time jumps straight to the
 * next due timer, so a simulation runs as fast as the CPU allows.
 */
export class VirtualClock implements Clock {
  protected t: number;
  protected readonly timers = new TimerQueue();

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, delayMs: number): unknown {
    return this.timers.add(fn, this.t + Math.max(0, delayMs));
  }

  clearTimer(handle: unknown): void {
    if (handle) (handle as VirtualTimer).cancelled = true;
  }

  /** Runs timers due at or before `untilMs` and leaves the clock at `untilMs`. */
  run(untilMs: number): void {
    for (;;) {
      const top = this.timers.peek();
      if (!top || top.due > untilMs) break;
      this.timers.pop();
      if (top.cancelled) continue;
      this.t = top.due;
      top.fn();
    }
    if (untilMs > this.t) this.t = untilMs;
  }

  /** Runs until no timers remain (or `maxEvents` fired, a guard against livelock). Returns events fired. */
  runUntilIdle(maxEvents = 10_000_000): number {
    let n = 0;
    while (this.timers.size > 0 && n < maxEvents) {
      const top = this.timers.pop()!;
      if (top.cancelled) continue;
      this.t = top.due;
      top.fn();
      n++;
    }
    return n;
  }

  get pendingTimers(): number {
    return this.timers.pending;
  }
}
