import { joinU64 } from '../shared/hashing/xxhash64.js';
import type { KvEvent } from './types.js';

/**
 * The KV block pool of one engine, with vLLM's prefix-caching rules:
 * - blocks held by running requests are ref-counted and never evicted;
 * - free blocks sit in an LRU list; a freed request's blocks are appended tail-first, so a chain's
 *   last blocks are evicted before its shared prefix; blocks that never got a hash go to the front;
 * - a cached free block stays reusable until it is reallocated — only then is it evicted and
 *   BlockRemoved emitted (lazy eviction).
 */
export class BlockPool {
  readonly capacity: number;
  private readonly refCount: Int32Array;
  private readonly hashHi: Uint32Array;
  private readonly hashLo: Uint32Array;
  private readonly keyOf: Float64Array; // NaN when the block holds no cached hash
  // Intrusive doubly linked free list over block ids; -1 terminates.
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly inFree: Uint8Array;
  private head = -1;
  private tail = -1;
  private freeCount = 0;
  private readonly cached = new Map<number, number>();
  /** Events produced since the last drain. */
  private events: KvEvent[] = [];

  constructor(capacity: number, private readonly emitEvents: boolean) {
    this.capacity = capacity;
    this.refCount = new Int32Array(capacity);
    this.hashHi = new Uint32Array(capacity);
    this.hashLo = new Uint32Array(capacity);
    this.keyOf = new Float64Array(capacity).fill(NaN);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.inFree = new Uint8Array(capacity);
    for (let b = 0; b < capacity; b++) this.appendFree(b);
  }

  get numFree(): number {
    return this.freeCount;
  }

  /** Fraction of blocks referenced by running requests (cached-but-free blocks count as free). */
  get usage(): number {
    return (this.capacity - this.freeCount) / this.capacity;
  }

  /** The cached block holding `key`, if any. */
  lookup(key: number): number | undefined {
    return this.cached.get(key);
  }

  /** Takes a reference on a cached block (a prefix hit), pulling it off the free list. */
  acquire(block: number): void {
    if (this.refCount[block] === 0 && this.inFree[block]) this.unlinkFree(block);
    this.refCount[block]++;
  }

  /** Allocates a fresh block, evicting the least recently freed cached block if needed. */
  allocate(): number {
    const b = this.head;
    if (b < 0) throw new Error('block pool exhausted');
    this.unlinkFree(b);
    if (!Number.isNaN(this.keyOf[b])) {
      this.cached.delete(this.keyOf[b]);
      this.keyOf[b] = NaN;
      if (this.emitEvents) {
        this.events.push({ type: 'BlockRemoved', blockHashes: [joinU64(this.hashHi[b], this.hashLo[b])], medium: 'GPU' });
      }
    }
    this.refCount[b] = 1;
    return b;
  }

  /**
   * Registers a just-filled block under its hash so later requests can hit it. If another block
   * already caches the same content, the existing one keeps the entry (as vLLM does).
   */
  register(block: number, key: number, hi: number, lo: number, parent: [number, number] | null, tokenIds: number[], blockSize: number, loraName: string | null, loraId: number | null = null): boolean {
    if (this.cached.has(key) || !Number.isNaN(this.keyOf[block])) return false;
    this.cached.set(key, block);
    this.keyOf[block] = key;
    this.hashHi[block] = hi;
    this.hashLo[block] = lo;
    if (this.emitEvents) {
      this.events.push({
        type: 'BlockStored',
        blockHashes: [joinU64(hi, lo)],
        parentBlockHash: parent ? joinU64(parent[0], parent[1]) : null,
        tokenIds,
        blockSize,
        loraId,
        medium: 'GPU',
        loraName,
      });
    }
    return true;
  }

  /** Releases a request's blocks, given in chain order; the chain's tail becomes the first eviction candidate. */
  free(blocks: number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i];
      if (--this.refCount[b] > 0) continue;
      if (Number.isNaN(this.keyOf[b])) this.prependFree(b);
      else this.appendFree(b);
    }
  }

  /** Drops every cached hash (blocks in use keep their contents but stop being shareable). */
  reset(): void {
    this.cached.clear();
    this.keyOf.fill(NaN);
    if (this.emitEvents) this.events.push({ type: 'AllBlocksCleared' });
  }

  drainEvents(): KvEvent[] {
    if (this.events.length === 0) return this.events;
    const e = this.events;
    this.events = [];
    return e;
  }

  private appendFree(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = -1;
    if (this.tail >= 0) this.next[this.tail] = b;
    else this.head = b;
    this.tail = b;
    this.inFree[b] = 1;
    this.freeCount++;
  }

  private prependFree(b: number): void {
    this.next[b] = this.head;
    this.prev[b] = -1;
    if (this.head >= 0) this.prev[this.head] = b;
    else this.tail = b;
    this.head = b;
    this.inFree[b] = 1;
    this.freeCount++;
  }

  private unlinkFree(b: number): void {
    const p = this.prev[b];
    const n = this.next[b];
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.inFree[b] = 0;
    this.freeCount--;
  }
}
