import { SlotSet, type Slotted } from './slot-set.js';

/** Something with a deadline (ms, performance.now() clock) and what to do when it passes. */
export interface Expiring extends Slotted {
  deadlineAt: number;
  expire(): void;
}

/**
 * Request deadlines checked by one sweep every `periodMs`, instead of a timer armed and cleared
 * per request: on the gateway's hot path a Set insert and delete cost less than a Node timer
 * each, and a deadline of minutes needs no millisecond precision (it fires within one period).
 * A deadline may move (`deadlineAt` is read at each sweep). Items are held in a SlotSet (see there
 * why not a Set).
 */
export class DeadlineSweeper {
  private readonly items = new SlotSet<Expiring>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly periodMs: number) {}

  add(x: Expiring): void {
    this.items.add(x);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.periodMs);
      this.timer.unref();
    }
  }

  remove(x: Expiring): void {
    this.items.delete(x);
  }

  private sweep(): void {
    const now = performance.now();
    const due: Expiring[] = [];
    this.items.forEach((x) => {
      if (now < x.deadlineAt) return;
      this.items.delete(x);
      due.push(x);
    });
    for (const x of due) x.expire(); // after the walk: expire() may add or remove others
    if (this.items.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.items.clear();
  }
}
