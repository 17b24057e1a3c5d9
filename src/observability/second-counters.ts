/**
 * Per-second event counts for a fixed set of channels over the last `seconds` seconds (a ring).
 * `add` is two array writes; memory is channels × seconds doubles.
 */
export class SecondCounters {
  private readonly counts: Float64Array;
  private readonly secondOf: Float64Array;

  constructor(
    readonly channels: number,
    readonly seconds = 300,
  ) {
    this.counts = new Float64Array(channels * seconds);
    this.secondOf = new Float64Array(seconds).fill(-1);
  }

  add(channel: number, nowMs: number, n = 1): void {
    const pos = this.position(Math.floor(nowMs / 1000));
    this.counts[pos * this.channels + channel] += n;
  }

  /** Count of `channel` in the second that contains `atMs` (0 when outside the ring). */
  at(channel: number, atMs: number): number {
    const s = Math.floor(atMs / 1000);
    const pos = s % this.seconds;
    return this.secondOf[pos] === s ? this.counts[pos * this.channels + channel] : 0;
  }

  /** Sum of `channel` over the `n` whole seconds before the one containing `nowMs`, plus that one. */
  sum(channel: number, nowMs: number, n: number): number {
    const last = Math.floor(nowMs / 1000);
    let total = 0;
    for (let s = last - n + 1; s <= last; s++) {
      const pos = s % this.seconds;
      if (s >= 0 && this.secondOf[pos] === s) total += this.counts[pos * this.channels + channel];
    }
    return total;
  }

  private position(second: number): number {
    const pos = second % this.seconds;
    if (this.secondOf[pos] !== second) {
      this.counts.fill(0, pos * this.channels, pos * this.channels + this.channels);
      this.secondOf[pos] = second;
    }
    return pos;
  }
}
