import type { ApproxPrefixIndex, PrefixHashes } from './approx-prefix-index.js';

interface Entry {
  endpointId: string;
  keys: Float64Array;
}

/**
 * The blocks a pick added to an approximate index that the engine has not confirmed yet.
 *
 * The approximate index records a request's blocks on the chosen endpoint at the pick, before
 * the engine has prefilled anything (so concurrent requests with the same prefix follow it). A
 * request that ends without a first token from that endpoint — refused at once, e.g. a prompt over
 * max-model-len (vLLM's 400), failed, or served by another endpoint after a retry — never made
 * its engine store them; left in, they would claim a cache the engine does not have, and a long
 * refused prompt would push real entries out of the endpoint's LRU. Those blocks are taken out
 * again; the same rule as the precise path's speculative entries (speculative-blocks.ts).
 *
 * Only blocks new to the endpoint at the pick are kept (copied: the index's hashes are scratch),
 * so a request whose prefix the endpoint already held costs nothing here. Memory is bounded by
 * the requests in flight: every picked request ends with `complete`.
 */
export class UnconfirmedBlocks {
  private readonly byRequest = new Map<string, Entry>();

  constructor(private readonly index: ApproxPrefixIndex) {}

  /** Requests with unconfirmed blocks (for tests). */
  get size(): number {
    return this.byRequest.size;
  }

  /**
   * Records `hashes` on `endpointId` in the index for `requestId`, remembering the blocks past the
   * `matched` leading ones the endpoint already held.
   */
  add(requestId: string, endpointId: string, hashes: PrefixHashes, matched: number): void {
    this.index.add(endpointId, hashes);
    this.byRequest.delete(requestId); // a new pick of the same request (failover) replaces the last
    if (hashes.count > matched) this.byRequest.set(requestId, { endpointId, keys: hashes.keys.slice(matched, hashes.count) });
  }

  /** The request's first token came from `endpointId`: its engine has the blocks if it was the picked one. */
  firstToken(requestId: string, endpointId: string): void {
    const e = this.byRequest.get(requestId);
    if (!e) return;
    this.byRequest.delete(requestId);
    if (e.endpointId !== endpointId) this.index.remove(e.endpointId, e.keys);
  }

  /** The request ended: blocks still unconfirmed were never stored by the engine. */
  complete(requestId: string): void {
    const e = this.byRequest.get(requestId);
    if (!e) return;
    this.byRequest.delete(requestId);
    this.index.remove(e.endpointId, e.keys);
  }

  /** The endpoint left the pool (its index entries go with it). */
  forget(endpointId: string): void {
    for (const [id, e] of this.byRequest) if (e.endpointId === endpointId) this.byRequest.delete(id);
  }
}
