/**
 * Blocks a routed request is about to make its engine store — llm-d's "speculative indexing".
 *
 * An engine announces a prompt's blocks (BlockStored) only when its prefill step ends. Between
 * the pick and that event, the exact index does not know them, so a second request with the same
 * prefix, routed meanwhile, would see no match and go elsewhere (and compute it twice). So each
 * pick of an endpoint with an exact view records the request's own block keys there, in flight;
 * later requests match against them as if stored.
 *
 * An entry lives while its request waits and prefills, and goes once the engine's events have
 * caught up: after the request's first token, at the endpoint's next batch (the one carrying its
 * blocks), or `graceMs` later at most; at once if the request ends without a first token, or is
 * served by another endpoint. `maxAgeMs` bounds an entry whose request is never heard of again.
 * Key arrays are capped at `maxBlocks` per entry, so memory is bounded by requests in flight.
 */

interface Entry {
  requestId: string;
  endpointId: string;
  hi: Uint32Array;
  lo: Uint32Array;
  count: number;
  blockSize: number;
  /** The endpoint's applied-batch count when the request was picked. */
  batchesAtPick: number;
  pickedMs: number;
  firstTokenMs: number;
}

export class SpeculativeBlocks {
  private readonly byEndpoint = new Map<string, Entry[]>();
  private readonly byRequest = new Map<string, Entry>();

  constructor(
    private readonly graceMs = 2000,
    private readonly maxAgeMs = 300_000,
    private readonly maxBlocks = 16_384,
  ) {}

  /** Requests with an entry (for tests and metrics). */
  get size(): number {
    return this.byRequest.size;
  }

  add(requestId: string, endpointId: string, keys: { hi: Uint32Array; lo: Uint32Array; count: number }, blockSize: number, batches: number, nowMs: number): void {
    this.remove(requestId);
    const count = Math.min(keys.count, this.maxBlocks);
    const e: Entry = { requestId, endpointId, hi: keys.hi.subarray(0, count), lo: keys.lo.subarray(0, count), count, blockSize, batchesAtPick: batches, pickedMs: nowMs, firstTokenMs: -1 };
    this.byRequest.set(requestId, e);
    let list = this.byEndpoint.get(endpointId);
    if (!list) this.byEndpoint.set(endpointId, (list = []));
    list.push(e);
  }

  firstToken(requestId: string, endpointId: string, nowMs: number): void {
    const e = this.byRequest.get(requestId);
    if (!e) return;
    if (e.endpointId !== endpointId) this.remove(requestId);
    else e.firstTokenMs = nowMs;
  }

  /** The request ended: before its first token, nothing will be stored for it. */
  complete(requestId: string): void {
    const e = this.byRequest.get(requestId);
    if (e && e.firstTokenMs < 0) this.remove(requestId);
  }

  has(endpointId: string): boolean {
    return (this.byEndpoint.get(endpointId)?.length ?? 0) > 0;
  }

  /** Block size of the endpoint's entries (0 when none). */
  blockSize(endpointId: string): number {
    return this.byEndpoint.get(endpointId)?.[0]?.blockSize ?? 0;
  }

  /**
   * Leading blocks of a request (its keys `hi`/`lo`, `count` blocks) that the endpoint's in-flight
   * entries hold; drops entries the endpoint's events (`batches` applied now) have caught up with.
   */
  match(endpointId: string, hi: Uint32Array, lo: Uint32Array, count: number, batches: number, nowMs: number): number {
    const list = this.byEndpoint.get(endpointId);
    if (!list) return 0;
    let best = 0;
    for (let k = list.length - 1; k >= 0; k--) {
      const e = list[k];
      const done = e.firstTokenMs >= 0 && (batches > e.batchesAtPick || nowMs - e.firstTokenMs > this.graceMs);
      if (done || nowMs - e.pickedMs > this.maxAgeMs) {
        this.remove(e.requestId);
        continue;
      }
      const n = Math.min(count, e.count);
      let i = 0;
      while (i < n && e.hi[i] === hi[i] && e.lo[i] === lo[i]) i++;
      if (i > best) best = i;
    }
    return best;
  }

  forget(endpointId: string): void {
    for (const e of this.byEndpoint.get(endpointId) ?? []) this.byRequest.delete(e.requestId);
    this.byEndpoint.delete(endpointId);
  }

  private remove(requestId: string): void {
    const e = this.byRequest.get(requestId);
    if (!e) return;
    this.byRequest.delete(requestId);
    const list = this.byEndpoint.get(e.endpointId);
    if (!list) return;
    const i = list.indexOf(e);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byEndpoint.delete(e.endpointId);
  }
}
