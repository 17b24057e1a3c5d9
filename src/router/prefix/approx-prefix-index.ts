import { xxh64Into } from '../../shared/hashing/xxhash64.js';
import { Xxh64Chain } from '../../shared/hashing/xxhash64-chain.js';
import { hashKey } from '../../shared/hashing/block-hash.js';
import { BlockTable } from './block-table.js';

export interface PrefixHashes {
  /** 53-bit keys of the chained block hashes, in prompt order. */
  keys: Float64Array;
  count: number;
}

const enc = new TextEncoder();

/**
 * The approximate prefix index of the GIE / llm-d EPP: which endpoint was recently sent which
 * prompt blocks. A block is `blockChars` bytes of the prompt text (16 tokens × 4 characters);
 * block i's hash chains block i−1's (xxhash64 seeded with the previous hash; the first seeded
 * with the model name and cache_salt), so a match at block i implies the whole prefix matched.
 *
 * Memory is kept tight for millions of entries, and lookups allocate nothing: a typed hash table
 * maps each block key to the first of the LRU nodes holding it (one per endpoint, linked through
 * `nodeSameKey`), and the per-endpoint LRU lists live in shared typed arrays (24 bytes a node).
 */
export class ApproxPrefixIndex {
  readonly blockChars: number;
  readonly maxBlocks: number;
  private readonly defaultCapacity: number;
  private readonly table = new BlockTable();
  // Node pool: key, owning endpoint slot, LRU links, next node of the same key. `next` doubles as
  // the free-list link.
  private nodeKey = new Float64Array(1024);
  private nodeSlot = new Int32Array(1024);
  private nodePrev = new Int32Array(1024);
  private nodeNext = new Int32Array(1024);
  private nodeSameKey = new Int32Array(1024);
  private nodesUsed = 0;
  private freeNode = -1;
  // Per endpoint slot: LRU head (most recent), tail, size, capacity.
  private readonly slots = new Map<string, number>();
  private slotIds: string[] = [];
  private head: number[] = [];
  private tail: number[] = [];
  private size: number[] = [];
  private capacity: number[] = [];
  private freeSlots: number[] = [];
  // Scratch.
  private readonly hasher = new Xxh64Chain();
  private readonly out = new Uint32Array(2);
  private keysBuf: Float64Array;
  private matched = new Int32Array(16);
  private readonly seedCache = new Map<string, [number, number]>();

  constructor(opts: { blockChars?: number; maxBlocks?: number; defaultCapacity?: number } = {}) {
    this.blockChars = opts.blockChars ?? 64;
    this.maxBlocks = opts.maxBlocks ?? 256;
    this.defaultCapacity = opts.defaultCapacity ?? 31_250;
    this.keysBuf = new Float64Array(this.maxBlocks);
  }

  /** Number of (block, endpoint) entries held. */
  get entries(): number {
    let n = 0;
    for (const s of this.slots.values()) n += this.size[s];
    return n;
  }

  /** Hashes the prompt's full blocks (at most maxBlocks). The result is reused scratch: copy to keep. */
  hash(model: string, cacheSalt: string | undefined, text: string): PrefixHashes {
    const maxBytes = this.maxBlocks * this.blockChars;
    // Only the first maxBytes can matter; a UTF-16 unit is at least one byte.
    const slice = text.length > maxBytes ? text.slice(0, maxBytes) : text;
    const { written } = enc.encodeInto(slice, this.hasher.input(slice.length * 3));
    const count = Math.min(this.maxBlocks, Math.floor(written / this.blockChars));
    const [seedHi, seedLo] = this.seed(model, cacheSalt);
    const { words, offset } = this.hasher.run(count, this.blockChars, seedHi, seedLo);
    for (let i = 0; i < count; i++) {
      this.keysBuf[i] = hashKey(words[offset + 2 * i + 1], words[offset + 2 * i]);
    }
    return { keys: this.keysBuf, count };
  }

  /** Leading blocks each endpoint holds (consecutive from block 0). Endpoints with 0 are omitted. */
  match(h: PrefixHashes): Map<string, number> {
    const res = new Map<string, number>();
    if (h.count === 0) return res;
    if (this.matched.length < this.slotIds.length) this.matched = new Int32Array(this.slotIds.length * 2);
    const matched = this.matched;
    const touched: number[] = [];
    for (let i = 0; i < h.count; i++) {
      let advanced = false;
      for (let node = this.table.get(h.keys[i]); node >= 0; node = this.nodeSameKey[node]) {
        const s = this.nodeSlot[node];
        if (matched[s] === i) {
          if (i === 0) touched.push(s);
          matched[s] = i + 1;
          advanced = true;
        }
      }
      if (!advanced) break;
    }
    for (const s of touched) {
      res.set(this.slotIds[s], matched[s]);
      matched[s] = 0;
    }
    return res;
  }

  /** Records that `endpointId` now holds these blocks (most recently used), evicting its LRU tail beyond capacity. */
  add(endpointId: string, h: PrefixHashes): void {
    const s = this.slotOf(endpointId);
    for (let i = 0; i < h.count; i++) {
      const key = h.keys[i];
      const first = this.table.get(key);
      let node = first;
      while (node >= 0 && this.nodeSlot[node] !== s) node = this.nodeSameKey[node];
      if (node >= 0) {
        this.unlink(s, node);
        this.pushHead(s, node);
        continue;
      }
      node = this.newNode(key, s);
      this.pushHead(s, node);
      this.nodeSameKey[node] = first;
      this.table.set(key, node);
      if (++this.size[s] > this.capacity[s]) this.evictTail(s);
    }
  }

  /**
   * Forgets that `endpointId` holds the given block keys (`count` of them): blocks recorded for a
   * request its engine never prefilled. Keys it does not hold are skipped.
   */
  remove(endpointId: string, keys: ArrayLike<number>, count = keys.length): void {
    const s = this.slots.get(endpointId);
    if (s === undefined) return;
    for (let i = 0; i < count; i++) {
      let node = this.table.get(keys[i]);
      while (node >= 0 && this.nodeSlot[node] !== s) node = this.nodeSameKey[node];
      if (node >= 0) this.drop(s, node);
    }
  }

  /** LRU capacity of one endpoint, in blocks (from vllm:cache_config_info num_gpu_blocks when known). */
  setCapacity(endpointId: string, blocks: number): void {
    const s = this.slotOf(endpointId);
    this.capacity[s] = Math.max(1, blocks);
    while (this.size[s] > this.capacity[s]) this.evictTail(s);
  }

  removeEndpoint(endpointId: string): void {
    const s = this.slots.get(endpointId);
    if (s === undefined) return;
    while (this.size[s] > 0) this.evictTail(s);
    this.slots.delete(endpointId);
    this.freeSlots.push(s);
  }

  private seed(model: string, salt: string | undefined): [number, number] {
    const k = salt ? `${model}\u0000${salt}` : model;
    let v = this.seedCache.get(k);
    if (!v) {
      const b = enc.encode(k);
      xxh64Into(b, 0, b.length, 0, 0, this.out);
      v = [this.out[0], this.out[1]];
      if (this.seedCache.size > 10_000) this.seedCache.clear();
      this.seedCache.set(k, v);
    }
    return v;
  }

  private slotOf(id: string): number {
    let s = this.slots.get(id);
    if (s !== undefined) return s;
    s = this.freeSlots.pop() ?? this.slotIds.length;
    this.slots.set(id, s);
    this.slotIds[s] = id;
    this.head[s] = -1;
    this.tail[s] = -1;
    this.size[s] = 0;
    this.capacity[s] = this.defaultCapacity;
    return s;
  }

  private newNode(key: number, s: number): number {
    let n = this.freeNode;
    if (n >= 0) this.freeNode = this.nodeNext[n];
    else {
      n = this.nodesUsed++;
      if (n >= this.nodeKey.length) this.grow();
    }
    this.nodeKey[n] = key;
    this.nodeSlot[n] = s;
    return n;
  }

  private grow(): void {
    const len = this.nodeKey.length * 2;
    const k = new Float64Array(len);
    k.set(this.nodeKey);
    this.nodeKey = k;
    for (const f of ['nodeSlot', 'nodePrev', 'nodeNext', 'nodeSameKey'] as const) {
      const a = new Int32Array(len);
      a.set(this[f]);
      this[f] = a;
    }
  }

  private pushHead(s: number, n: number): void {
    this.nodePrev[n] = -1;
    this.nodeNext[n] = this.head[s];
    if (this.head[s] >= 0) this.nodePrev[this.head[s]] = n;
    else this.tail[s] = n;
    this.head[s] = n;
  }

  private unlink(s: number, n: number): void {
    const p = this.nodePrev[n];
    const x = this.nodeNext[n];
    if (p >= 0) this.nodeNext[p] = x;
    else this.head[s] = x;
    if (x >= 0) this.nodePrev[x] = p;
    else this.tail[s] = p;
  }

  private evictTail(s: number): void {
    const n = this.tail[s];
    if (n >= 0) this.drop(s, n);
  }

  /** Takes node `n` out of slot `s`'s LRU list and its key's chain, and frees it. */
  private drop(s: number, n: number): void {
    this.unlink(s, n);
    this.size[s]--;
    const key = this.nodeKey[n];
    const first = this.table.get(key);
    if (first === n) {
      if (this.nodeSameKey[n] >= 0) this.table.set(key, this.nodeSameKey[n]);
      else this.table.delete(key);
    } else {
      let prev = first;
      while (prev >= 0 && this.nodeSameKey[prev] !== n) prev = this.nodeSameKey[prev];
      if (prev >= 0) this.nodeSameKey[prev] = this.nodeSameKey[n];
    }
    this.nodeSlot[n] = -1;
    this.nodeNext[n] = this.freeNode;
    this.freeNode = n;
  }
}
