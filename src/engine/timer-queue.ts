/** A timer of a virtual clock: fires at `due` (ms), ties broken by insertion order (`seq`). */
export interface VirtualTimer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * The pending timers of a discrete-event clock, as a binary min-heap on (due, seq): the next to
 * fire is the earliest, and timers due at the same instant fire in the order they were set, so a
 * simulation is reproducible. Cancelled timers stay in the heap until popped (cheaper than
 * removal); callers skip them.
 */
export class TimerQueue {
  private seq = 0;
  private readonly heap: VirtualTimer[] = [];

  /** Schedules `fn` at virtual time `due`; the returned timer is the handle to cancel. */
  add(fn: () => void, due: number): VirtualTimer {
    const timer: VirtualTimer = { due, seq: this.seq++, fn, cancelled: false };
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
    return timer;
  }

  /** The next timer to fire (cancelled or not), without removing it. */
  peek(): VirtualTimer | undefined {
    return this.heap[0];
  }

  /** Removes and returns the next timer (undefined when none is left). */
  pop(): VirtualTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  /** Timers in the heap, cancelled ones included. */
  get size(): number {
    return this.heap.length;
  }

  /** Timers that will still fire. */
  get pending(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }
}

function less(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
