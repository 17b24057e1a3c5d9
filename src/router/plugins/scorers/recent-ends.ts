/**
 * Requests of this router that ended on each endpoint recently, for correcting a scrape taken
 * before they ended (it still counts them running or waiting). Per endpoint a fixed ring of the
 * last `size` ends, each with when the request was picked and when it ended, kept in typed arrays:
 * recording an end allocates nothing (objects passing through a long-lived Map outlive the young
 * GC generation; see shared/slot-set.ts).
 */
export class RecentEnds {
  private readonly rings = new Map<string, { picked: Float64Array; ended: Float64Array; next: number }>();

  constructor(private readonly size = 32) {}

  /** Records that a request picked for `endpointId` at `pickedMs` ended at `endedMs` (ms, the router's clock). */
  add(endpointId: string, pickedMs: number, endedMs: number): void {
    let r = this.rings.get(endpointId);
    if (!r) this.rings.set(endpointId, (r = { picked: new Float64Array(this.size), ended: new Float64Array(this.size).fill(-Infinity), next: 0 }));
    r.picked[r.next] = pickedMs;
    r.ended[r.next] = endedMs;
    r.next = (r.next + 1) % this.size;
  }

  /**
   * Requests on `endpointId` that a scrape at `atMs` could have counted and that ended after it:
   * picked at or before `atMs`, ended after it (only the last `size` ends are kept).
   */
  endedAfter(endpointId: string, atMs: number): number {
    const r = this.rings.get(endpointId);
    if (!r) return 0;
    let n = 0;
    for (let i = 0; i < this.size; i++) if (r.ended[i] > atMs && r.picked[i] <= atMs) n++;
    return n;
  }
}
