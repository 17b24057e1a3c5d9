import { VirtualClock } from '../engine/clock.js';

/** Events between progress calls (a power of two): cheap to test, and a few ms of work apart. */
const PROGRESS_EVERY = 1024;

/**
 * The simulation's one clock: the engine's VirtualClock (timers fire in due-time then insertion
 * order; time jumps to the next timer), plus what driving the real
 * request lifecycle needs — its API is promise-based, so after an event that started or advanced
 * promise work (`settleAfterThisEvent()`) the loop lets every pending continuation run, at the
 * same virtual instant, before it fires the next timer. Nothing here reads a wall clock, and
 * continuations run in a fixed order, so a run is reproducible.
 */
export class EventLoop extends VirtualClock {
  private settle = false;
  /** Timers fired so far. */
  events = 0;
  /**
   * Told the virtual time every PROGRESS_EVERY events (progress reports; it must not touch the
   * simulation — reading a wall clock there is fine, it changes no result).
   */
  onProgress?: (nowMs: number) => void;

  /** The current event handed work to promises: let their continuations run before time moves on. */
  settleAfterThisEvent(): void {
    this.settle = true;
  }

  /** Runs until no timer is left and no continuation is pending. */
  async runAll(): Promise<void> {
    for (;;) {
      if (this.settle) {
        this.settle = false;
        // setImmediate runs once the microtask queue is empty: every continuation has run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const top = this.timers.pop();
      if (!top) return;
      if (top.cancelled) continue;
      this.t = top.due;
      this.events++;
      if ((this.events & (PROGRESS_EVERY - 1)) === 0) this.onProgress?.(this.t);
      top.fn();
    }
  }
}
