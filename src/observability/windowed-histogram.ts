/**
 * Latency percentiles over a sliding time window, in bounded memory.
 *
 * Time is cut into `slots` slots of `slotMs`; each slot holds counts in log-spaced buckets
 * (4 per power of two from 0.1 ms, 96 buckets: 0.1 ms … ~28 min). A value is reported as its
 * bucket's geometric midpoint, so a percentile is within ±9 % of the exact one — plenty for a
 * dashboard, and an observation costs one log2 and two array writes. Memory:
 * slots × 96 × 4 bytes (300 one-second slots = 115 KB).
 */
const BUCKETS = 96;
const PER_OCTAVE = 4;
const BASE_MS = 0.1;

export class WindowedHistogram {
  private readonly counts: Uint32Array;
  /** Slot number (time ÷ slotMs) each ring position holds. */
  private readonly slotOf: Float64Array;

  constructor(
    readonly slotMs = 1000,
    readonly slots = 300,
  ) {
    this.counts = new Uint32Array(slots * BUCKETS);
    this.slotOf = new Float64Array(slots).fill(-1);
  }

  /** Records one value (ms) at time `nowMs`. Non-finite or negative values are ignored. */
  observe(valueMs: number, nowMs: number): void {
    if (!(valueMs >= 0) || !Number.isFinite(valueMs)) return;
    const slot = Math.floor(nowMs / this.slotMs);
    const pos = slot % this.slots;
    if (this.slotOf[pos] !== slot) {
      this.counts.fill(0, pos * BUCKETS, pos * BUCKETS + BUCKETS);
      this.slotOf[pos] = slot;
    }
    this.counts[pos * BUCKETS + bucketOf(valueMs)]++;
  }

  /**
   * Percentiles (q in 0..1) over the last `windowMs` ending at `nowMs`; null when the window is
   * empty. Returns the count too.
   */
  quantiles(qs: readonly number[], windowMs: number, nowMs: number): { values: (number | null)[]; count: number } {
    const merged = new Float64Array(BUCKETS);
    const last = Math.floor(nowMs / this.slotMs);
    const first = last - Math.max(1, Math.ceil(windowMs / this.slotMs)) + 1;
    let count = 0;
    for (let pos = 0; pos < this.slots; pos++) {
      const s = this.slotOf[pos];
      if (s < first || s > last) continue;
      const off = pos * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) {
        const c = this.counts[off + b];
        if (c) {
          merged[b] += c;
          count += c;
        }
      }
    }
    if (count === 0) return { values: qs.map(() => null), count };
    const values = qs.map((q) => {
      const rank = Math.max(1, Math.ceil(q * count));
      let acc = 0;
      for (let b = 0; b < BUCKETS; b++) {
        acc += merged[b];
        if (acc >= rank) return midpointOf(b);
      }
      return midpointOf(BUCKETS - 1);
    });
    return { values, count };
  }
}

function bucketOf(ms: number): number {
  if (ms <= BASE_MS) return 0;
  const b = Math.floor(Math.log2(ms / BASE_MS) * PER_OCTAVE);
  return b >= BUCKETS ? BUCKETS - 1 : b;
}

function midpointOf(b: number): number {
  return BASE_MS * 2 ** ((b + 0.5) / PER_OCTAVE);
}
