/** Something with a deadline (ms, performance.now() clock) and what to do when it passes. */
export interface Expiring {
  deadlineAt: number;
  expire(): void;
}

/**
 * Request deadlines checked by one sweep every `periodMs`, instead of a timer armed and cleared
 * per request: on the gateway's hot path a Set insert and delete cost less than a Node timer
 * each, and a deadline of minutes needs no millisecond precision (it fires within one period).
 */
export class DeadlineSweeper {
  private readonly items = new Set<Expiring>();
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
    for (const x of this.items) {
      if (now < x.deadlineAt) continue;
      this.items.delete(x);
      x.expire();
    }
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
