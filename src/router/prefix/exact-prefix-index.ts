import { xxh64Into } from '../../shared/hashing/xxhash64.js';
import { Xxh64Chain } from '../../shared/hashing/xxhash64-chain.js';

/**
 * The exact prefix index: which blocks each endpoint's engine holds, from the engines' own KV
 * events (vLLM's BlockStored / BlockRemoved / AllBlocksCleared), as NVIDIA Dynamo's KvIndexer and
 * llm-d's precise prefix-cache scorer keep it.
 *
 * Keys. A block is keyed by kvgate's OWN content hash: XXH64 over its token ids (u32
 * little-endian), seeded with the previous block's own key, the first block seeded with
 * (model, LoRA name, cache_salt, block size). So kvgate never reproduces the engine's hash
 * algorithm or seed (sha256 over pickle is not reproducible outside Python, reference §7.5); the
 * engine's hashes are only names, kept per endpoint to resolve `parent_block_hash` and removals
 * (Dynamo's rule, reference §2.3). A request's blocks hash the same way from its token ids, and a
 * match at block i implies the whole prefix up to i matched.
 *
 * Extra keys a router cannot see in token ids (multimodal items, prompt-embeds hashes) are folded
 * into the block's key, so such a block never matches a token-only lookup — a miss, never a wrong
 * hit. `cache_salt` (first block) goes into the root seed, as the router can give it.
 *
 * Scope. Blocks of KV-cache group 0 only (`group_idx` absent or 0): for hybrid models the other
 * groups (sliding window…) are counted and skipped. Media: GPU, CPU and other tiers are tracked
 * per block (a block may sit on several); a removal clears its medium's tier only.
 *
 * Memory. One node per (endpoint, engine block) in typed arrays — own key, engine key, next node
 * with the same own key, the endpoint's list links, endpoint slot, tier bits: 31 bytes — plus two
 * open-addressing tables of node indices (4 bytes a slot, ≤ 60 % full). `memoryStats()` reports
 * the bytes held; `npm run bench:scheduler` measures the heap.
 *
 * Deterministic: the index is a function of each endpoint's event sequence alone, whatever the
 * interleaving of endpoints, so router replicas fed the same engines give the same matches.
 */

/** The fields of vLLM's KV events this index reads (datalayer/kv-events decodes them). */
export interface ExactIndexStoredEvent {
  type: 'BlockStored';
  blockHashes: readonly bigint[];
  parentBlockHash: bigint | null;
  /** Token ids of every block; empty for a lower-tier copy of blocks already known (lazy CPU offload). */
  tokenIds: readonly number[];
  blockSize: number;
  loraName: string | null;
  loraId?: number | null;
  medium: string | null;
  extraKeys?: readonly ({ cacheSalt: string | null; other: string | null } | null)[] | null;
  groupIdx?: number | null;
}
export interface ExactIndexRemovedEvent {
  type: 'BlockRemoved';
  blockHashes: readonly bigint[];
  medium: string | null;
  groupIdx?: number | null;
}
export type ExactIndexEvent = ExactIndexStoredEvent | ExactIndexRemovedEvent | { type: 'AllBlocksCleared' };

/** Tier bits of a node. */
const GPU = 1;
const CPU = 2;
const OTHER = 4;

function tierOf(medium: string | null): number {
  if (medium === null || medium === 'GPU') return GPU;
  if (medium === 'CPU' || medium === 'CPU_PINNED') return CPU;
  return OTHER;
}

/** Weight of each tier for `matchWeighted`; llm-d's precise scorer uses gpu 1.0, cpu 0.8. */
export interface TierWeights {
  gpu: number;
  cpu: number;
  other: number;
}
export const DEFAULT_TIER_WEIGHTS: TierWeights = { gpu: 1, cpu: 0.8, other: 0.5 };

/** What the index ignored, by cause (each one a counter for /metrics). */
export interface ExactIndexCounters {
  /** Blocks whose parent the endpoint never announced (stream joined late, events lost): not indexable. */
  orphanBlocks: number;
  /** Removals of blocks the index does not hold. */
  unknownRemovals: number;
  /** Hash-only (token-less) stores of blocks the index does not hold. */
  unknownTierStores: number;
  /** Events of KV-cache groups other than 0. */
  otherGroupEvents: number;
  /** Events dropped because 65,535 endpoints already have a slot. */
  noSlot: number;
}

export interface ExactIndexMemory {
  /** (endpoint, block) entries. */
  blocks: number;
  /** Distinct own keys (blocks shared by endpoints count once). */
  distinctKeys: number;
  /** Bytes of every typed array the index holds (allocated capacity, not just the used part). */
  bytes: number;
  bytesPerBlock: number;
}

const NO = -1;
const MAX_SLOTS = 0xffff;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const enc = new TextEncoder();

/** Engine-key mix for its table slot (engine hashes may be small or structured ints). */
function engHash(slot: number, hi: number, lo: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1) ^ Math.imul(slot + 1, 0x85ebca6b), 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

export class ExactPrefixIndex {
  // ---- nodes: one per (endpoint, engine block) ----
  private cap = 0;
  private nOwnHi = new Uint32Array(0);
  private nOwnLo = new Uint32Array(0);
  private nEngHi = new Uint32Array(0);
  private nEngLo = new Uint32Array(0);
  private nNextSame = new Int32Array(0);
  private nPrev = new Int32Array(0);
  /** Next node of the same endpoint; the free list's link for free nodes. */
  private nNext = new Int32Array(0);
  private nSlot = new Uint16Array(0);
  private nTier = new Uint8Array(0);
  private nodesUsed = 0;
  private freeNode = NO;
  private live = 0;

  // ---- tables of node indices ----
  /** own key → first node holding it. */
  private ownTable: Int32Array = new Int32Array(16).fill(NO);
  private ownUsed = 0;
  /** (slot, engine key) → node. */
  private engTable: Int32Array = new Int32Array(16).fill(NO);
  private engUsed = 0;

  // ---- endpoints ----
  private readonly slots = new Map<string, number>();
  private slotIds: (string | undefined)[] = [];
  private slotHead: number[] = [];
  private slotCount: number[] = [];
  private slotBlockSize: number[] = [];
  private freeSlots: number[] = [];
  /** Block size → endpoints indexed with it (a request hashes once per size in use). */
  private readonly blockSizes = new Map<number, number>();

  // ---- scratch ----
  private readonly hasher = new Xxh64Chain();
  private readonly out = new Uint32Array(2);
  private readonly big = new BigUint64Array(1);
  private readonly bigWords = new Uint32Array(this.big.buffer);
  private readonly rootCache = new Map<string, [number, number]>();
  private matched = new Int32Array(64);
  private weighted = new Float64Array(64);
  private touched = new Int32Array(64);
  private keyHi = new Uint32Array(256);
  private keyLo = new Uint32Array(256);

  readonly counters: ExactIndexCounters = { orphanBlocks: 0, unknownRemovals: 0, unknownTierStores: 0, otherGroupEvents: 0, noSlot: 0 };

  constructor(opts: { initialBlocks?: number } = {}) {
    this.growNodes(Math.max(1024, opts.initialBlocks ?? 1024));
  }

  /** Applies one engine event of `endpointId`, whose engine serves the base model `model`. Never throws on event content. */
  apply(endpointId: string, model: string, event: ExactIndexEvent): void {
    if (event.type === 'AllBlocksCleared') {
      this.resetEndpoint(endpointId);
      return;
    }
    if (event.groupIdx !== undefined && event.groupIdx !== null && event.groupIdx !== 0) {
      this.counters.otherGroupEvents++;
      return;
    }
    const slot = this.slotOf(endpointId);
    if (slot < 0) {
      this.counters.noSlot++;
      return;
    }
    if (event.type === 'BlockRemoved') this.remove(slot, event);
    else this.store(slot, model, event);
  }

  /** Drops every block of the endpoint (engine restart, AllBlocksCleared, an unrecoverable gap); keeps its slot. */
  resetEndpoint(endpointId: string): void {
    const s = this.slots.get(endpointId);
    if (s === undefined) return;
    while (this.slotHead[s] !== NO) this.freeNodeAt(this.slotHead[s]);
  }

  /** Forgets the endpoint entirely. */
  removeEndpoint(endpointId: string): void {
    const s = this.slots.get(endpointId);
    if (s === undefined) return;
    this.resetEndpoint(endpointId);
    this.setBlockSize(s, 0);
    this.slots.delete(endpointId);
    this.slotIds[s] = undefined;
    this.freeSlots.push(s);
  }

  /** Blocks the endpoint holds (any medium), 0 when unknown. */
  blocks(endpointId: string): number {
    const s = this.slots.get(endpointId);
    return s === undefined ? 0 : this.slotCount[s];
  }

  /** Tokens per block of the endpoint's engine (from its events), 0 before its first BlockStored. */
  blockSize(endpointId: string): number {
    const s = this.slots.get(endpointId);
    return s === undefined ? 0 : this.slotBlockSize[s];
  }

  /** Endpoints with a slot (every endpoint an event was applied for, until removeEndpoint). */
  endpoints(): string[] {
    return [...this.slots.keys()];
  }

  /**
   * Leading blocks of `tokenIds` each endpoint holds, on any medium: the longest chain from
   * block 0, in that endpoint's block size. Only full blocks count (a partial last block is never
   * cached); endpoints with no match are left out. `lora` is the LoRA adapter name (null for the
   * base model) and `cacheSalt` the request's cache_salt, both as the engine saw them.
   */
  match(model: string, lora: string | null, tokenIds: ArrayLike<number>, cacheSalt: string | null = null): Map<string, number> {
    return this.walk(model, lora, tokenIds, cacheSalt, null);
  }

  /**
   * As `match`, but each matched block counts the weight of the best tier holding it (llm-d's
   * device-weighted longest consecutive hit). The chain still ends at the first block held on no tier.
   */
  matchWeighted(model: string, lora: string | null, tokenIds: ArrayLike<number>, cacheSalt: string | null = null, weights: TierWeights = DEFAULT_TIER_WEIGHTS): Map<string, number> {
    return this.walk(model, lora, tokenIds, cacheSalt, weights);
  }

  /**
   * The own keys of the request's full blocks in `blockSize`-token blocks (the keys `match` looks
   * up), as fresh arrays: `hi[i]`, `lo[i]` for block i. For speculative entries (blocks a picked
   * request is about to store) compared against later requests.
   */
  blockKeys(model: string, lora: string | null, tokenIds: ArrayLike<number>, cacheSalt: string | null, blockSize: number): { hi: Uint32Array; lo: Uint32Array; count: number } {
    const count = this.requestKeys(model, lora, cacheSalt, blockSize, tokenIds);
    return { hi: this.keyHi.slice(0, count), lo: this.keyLo.slice(0, count), count };
  }

  memoryStats(): ExactIndexMemory {
    const nodeBytes = this.cap * (4 * 7 + 2 + 1);
    const bytes = nodeBytes + this.ownTable.byteLength + this.engTable.byteLength;
    return { blocks: this.live, distinctKeys: this.ownUsed, bytes, bytesPerBlock: this.live ? bytes / this.live : 0 };
  }

  // ---------------------------------------------------------------------------------------------

  private walk(model: string, lora: string | null, tokenIds: ArrayLike<number>, salt: string | null, weights: TierWeights | null): Map<string, number> {
    const res = new Map<string, number>();
    if (this.live === 0) return res;
    for (const blockSize of this.blockSizes.keys()) {
      const count = this.requestKeys(model, lora, salt, blockSize, tokenIds);
      this.walkKeys(this.keyHi, this.keyLo, count, blockSize, weights, res);
    }
    return res;
  }

  /**
   * As `matchWeighted` (or `match` with `weights` null), for block keys already computed with
   * `blockKeys` in `blockSize`-token blocks: only endpoints of that block size can match. Lets a
   * caller that needs the keys anyway (speculative entries) hash the request once.
   */
  matchKeys(keys: { hi: Uint32Array; lo: Uint32Array; count: number }, blockSize: number, weights: TierWeights | null = DEFAULT_TIER_WEIGHTS): Map<string, number> {
    const res = new Map<string, number>();
    if (this.live > 0 && this.blockSizes.has(blockSize)) this.walkKeys(keys.hi, keys.lo, keys.count, blockSize, weights, res);
    return res;
  }

  /** Block sizes of the endpoints the index holds blocks for (usually one). */
  get blockSizesInUse(): number {
    return this.blockSizes.size;
  }

  private walkKeys(keyHi: Uint32Array, keyLo: Uint32Array, count: number, blockSize: number, weights: TierWeights | null, res: Map<string, number>): void {
    if (this.matched.length < this.slotIds.length) {
      this.matched = new Int32Array(this.slotIds.length * 2);
      this.weighted = new Float64Array(this.slotIds.length * 2);
    }
    if (this.touched.length < this.slotIds.length) this.touched = new Int32Array(this.slotIds.length * 2);
    const { matched, weighted, nSlot, nNextSame, nTier, touched } = this;
    let nTouched = 0;
    for (let i = 0; i < count; i++) {
      let advanced = false;
      for (let n = this.ownHead(keyHi[i], keyLo[i]); n !== NO; n = nNextSame[n]) {
        const s = nSlot[n];
        if (matched[s] !== i) continue;
        if (i === 0) {
          if (this.slotBlockSize[s] !== blockSize) continue;
          touched[nTouched++] = s;
        }
        matched[s] = i + 1;
        if (weights) {
          const t = nTier[n];
          weighted[s] += t & GPU ? weights.gpu : t & CPU ? weights.cpu : weights.other;
        }
        advanced = true;
      }
      if (!advanced) break;
    }
    for (let t = 0; t < nTouched; t++) {
      const s = touched[t];
      res.set(this.slotIds[s]!, weights ? weighted[s] : matched[s]);
      matched[s] = 0;
      weighted[s] = 0;
    }
  }

  /** Own keys of the request's full blocks into keyHi/keyLo; returns their count. */
  private requestKeys(model: string, lora: string | null, salt: string | null, blockSize: number, tokenIds: ArrayLike<number>): number {
    const count = Math.floor(tokenIds.length / blockSize);
    if (count === 0) return 0;
    const [hi, lo] = this.root(model, lora, salt, blockSize);
    this.writeTokens(tokenIds, 0, count * blockSize);
    const { words, offset } = this.hasher.run(count, blockSize * 4, hi, lo);
    if (this.keyHi.length < count) {
      this.keyHi = new Uint32Array(count * 2);
      this.keyLo = new Uint32Array(count * 2);
    }
    for (let i = 0; i < count; i++) {
      this.keyLo[i] = words[offset + 2 * i];
      this.keyHi[i] = words[offset + 2 * i + 1];
    }
    return count;
  }

  /** Token ids [start, end) as u32 little-endian at the start of the hasher's input. */
  private writeTokens(tokenIds: ArrayLike<number>, start: number, end: number): void {
    const n = end - start;
    const bytes = this.hasher.input(n * 4);
    if (LITTLE_ENDIAN) {
      const u32 = new Uint32Array(bytes.buffer, 0, n);
      for (let i = 0; i < n; i++) u32[i] = tokenIds[start + i];
    } else {
      const dv = new DataView(bytes.buffer);
      for (let i = 0; i < n; i++) dv.setUint32(i * 4, tokenIds[start + i], true);
    }
  }

  private root(model: string, lora: string | null, salt: string | null, blockSize: number): [number, number] {
    const k = `${model}\u0000${lora ?? ''}\u0000${salt ?? ''}\u0000${blockSize}`;
    let v = this.rootCache.get(k);
    if (!v) {
      const b = enc.encode(k);
      xxh64Into(b, 0, b.length, 0, 0, this.out);
      v = [this.out[0], this.out[1]];
      if (this.rootCache.size >= 4096) this.rootCache.clear();
      this.rootCache.set(k, v);
    }
    return v;
  }

  /** Writes the engine hash's halves into out: [hi, lo], as xxh64Into does. */
  private splitHash(h: bigint): void {
    this.big[0] = h;
    // bigWords: [lo, hi] on little-endian, [hi, lo] on big-endian.
    if (LITTLE_ENDIAN) {
      this.out[0] = this.bigWords[1];
      this.out[1] = this.bigWords[0];
    } else {
      this.out[0] = this.bigWords[0];
      this.out[1] = this.bigWords[1];
    }
  }

  private store(slot: number, model: string, e: ExactIndexStoredEvent): void {
    const tier = tierOf(e.medium);
    const n = e.blockHashes.length;
    if (e.tokenIds.length === 0) {
      for (const h of e.blockHashes) {
        this.splitHash(h);
        const node = this.engFind(slot, this.out[0], this.out[1]);
        if (node === NO) this.counters.unknownTierStores++;
        else this.nTier[node] |= tier;
      }
      return;
    }
    const bs = e.blockSize;
    if (!(bs > 0) || e.tokenIds.length !== n * bs) return; // the decoder rejects these; stay total for other callers
    let hi: number;
    let lo: number;
    const extra = e.extraKeys ?? null;
    if (e.parentBlockHash === null) {
      const lora = e.loraName ?? (e.loraId !== undefined && e.loraId !== null ? `#lora-id:${e.loraId}` : null);
      [hi, lo] = this.root(model, lora, extra?.[0]?.cacheSalt ?? null, bs);
    } else {
      this.splitHash(e.parentBlockHash);
      const p = this.engFind(slot, this.out[0], this.out[1]);
      if (p === NO) {
        this.counters.orphanBlocks += n;
        return;
      }
      hi = this.nOwnHi[p];
      lo = this.nOwnLo[p];
    }
    this.setBlockSize(slot, bs);
    // Own keys of the event's blocks: one chained call, unless some block carries extra keys.
    if (this.keyHi.length < n) {
      this.keyHi = new Uint32Array(n * 2);
      this.keyLo = new Uint32Array(n * 2);
    }
    const plain = !extra || extra.every((x, i) => x === null || (i === 0 && e.parentBlockHash === null && x.other === null));
    if (plain) {
      this.writeTokens(e.tokenIds, 0, n * bs);
      const { words, offset } = this.hasher.run(n, bs * 4, hi, lo);
      for (let i = 0; i < n; i++) {
        this.keyLo[i] = words[offset + 2 * i];
        this.keyHi[i] = words[offset + 2 * i + 1];
      }
    } else {
      for (let i = 0; i < n; i++) {
        const x = extra[i];
        // Keys the request cannot carry (salt past a chain's first block, anything in `other`) change the seed.
        const fold = x ? [i === 0 && e.parentBlockHash === null ? '' : (x.cacheSalt ?? ''), x.other ?? ''].join('\u0000') : '';
        if (fold !== '\u0000' && fold !== '') {
          const b = enc.encode(fold);
          xxh64Into(b, 0, b.length, hi, lo, this.out);
          hi = this.out[0];
          lo = this.out[1];
        }
        this.writeTokens(e.tokenIds, i * bs, (i + 1) * bs);
        const { words, offset } = this.hasher.run(1, bs * 4, hi, lo);
        lo = this.keyLo[i] = words[offset];
        hi = this.keyHi[i] = words[offset + 1];
      }
    }
    for (let i = 0; i < n; i++) {
      this.splitHash(e.blockHashes[i]);
      const engHi = this.out[0];
      const engLo = this.out[1];
      const existing = this.engFind(slot, engHi, engLo);
      if (existing !== NO) {
        this.nTier[existing] |= tier;
        continue;
      }
      this.addNode(slot, this.keyHi[i], this.keyLo[i], engHi, engLo, tier);
    }
  }

  private remove(slot: number, e: ExactIndexRemovedEvent): void {
    const tier = tierOf(e.medium);
    for (const h of e.blockHashes) {
      this.splitHash(h);
      const node = this.engFind(slot, this.out[0], this.out[1]);
      if (node === NO) {
        this.counters.unknownRemovals++;
        continue;
      }
      this.nTier[node] &= ~tier;
      if (this.nTier[node] === 0) this.freeNodeAt(node);
    }
  }

  private slotOf(id: string): number {
    let s = this.slots.get(id);
    if (s !== undefined) return s;
    s = this.freeSlots.pop() ?? this.slotIds.length;
    if (s >= MAX_SLOTS) return NO;
    this.slots.set(id, s);
    this.slotIds[s] = id;
    this.slotHead[s] = NO;
    this.slotCount[s] = 0;
    this.slotBlockSize[s] = 0;
    return s;
  }

  private setBlockSize(s: number, bs: number): void {
    const old = this.slotBlockSize[s];
    if (old === bs) return;
    if (old > 0) {
      const left = (this.blockSizes.get(old) ?? 1) - 1;
      if (left > 0) this.blockSizes.set(old, left);
      else this.blockSizes.delete(old);
    }
    if (bs > 0) this.blockSizes.set(bs, (this.blockSizes.get(bs) ?? 0) + 1);
    this.slotBlockSize[s] = bs;
  }

  // ---- nodes ----

  private addNode(slot: number, ownHi: number, ownLo: number, engHi: number, engLo: number, tier: number): void {
    let n = this.freeNode;
    if (n !== NO) this.freeNode = this.nNext[n];
    else {
      if (this.nodesUsed === this.cap) this.growNodes(Math.ceil(this.cap * 1.5));
      n = this.nodesUsed++;
    }
    this.nOwnHi[n] = ownHi;
    this.nOwnLo[n] = ownLo;
    this.nEngHi[n] = engHi;
    this.nEngLo[n] = engLo;
    this.nSlot[n] = slot;
    this.nTier[n] = tier;
    // endpoint list: push front
    const head = this.slotHead[slot];
    this.nPrev[n] = NO;
    this.nNext[n] = head;
    if (head !== NO) this.nPrev[head] = n;
    this.slotHead[slot] = n;
    this.slotCount[slot]++;
    this.live++;
    this.engInsert(n);
    this.ownInsert(n);
  }

  private freeNodeAt(n: number): void {
    const s = this.nSlot[n];
    this.engDelete(n);
    this.ownRemove(n);
    const p = this.nPrev[n];
    const x = this.nNext[n];
    if (p !== NO) this.nNext[p] = x;
    else this.slotHead[s] = x;
    if (x !== NO) this.nPrev[x] = p;
    this.slotCount[s]--;
    this.live--;
    this.nTier[n] = 0;
    this.nNext[n] = this.freeNode;
    this.freeNode = n;
  }

  private growNodes(cap: number): void {
    const grow = <T extends Uint32Array | Int32Array | Uint16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.nOwnHi = grow(this.nOwnHi, (n) => new Uint32Array(n));
    this.nOwnLo = grow(this.nOwnLo, (n) => new Uint32Array(n));
    this.nEngHi = grow(this.nEngHi, (n) => new Uint32Array(n));
    this.nEngLo = grow(this.nEngLo, (n) => new Uint32Array(n));
    this.nNextSame = grow(this.nNextSame, (n) => new Int32Array(n));
    this.nPrev = grow(this.nPrev, (n) => new Int32Array(n));
    this.nNext = grow(this.nNext, (n) => new Int32Array(n));
    this.nSlot = grow(this.nSlot, (n) => new Uint16Array(n));
    this.nTier = grow(this.nTier, (n) => new Uint8Array(n));
    this.cap = cap;
  }

  // ---- own-key table: own key → first node of the same-key list ----

  private ownHead(hi: number, lo: number): number {
    const t = this.ownTable;
    const mask = t.length - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const n = t[i];
      if (n === NO) return NO;
      if (this.nOwnLo[n] === lo && this.nOwnHi[n] === hi) return n;
    }
  }

  private ownInsert(node: number): void {
    const hi = this.nOwnHi[node];
    const lo = this.nOwnLo[node];
    const t = this.ownTable;
    const mask = t.length - 1;
    let i = lo & mask;
    for (; t[i] !== NO; i = (i + 1) & mask) {
      const n = t[i];
      if (this.nOwnLo[n] === lo && this.nOwnHi[n] === hi) {
        this.nNextSame[node] = n;
        t[i] = node;
        return;
      }
    }
    this.nNextSame[node] = NO;
    t[i] = node;
    if (++this.ownUsed * 5 > t.length * 3) this.ownTable = this.rehash(this.ownTable, (n) => this.nOwnLo[n]);
  }

  private ownRemove(node: number): void {
    const hi = this.nOwnHi[node];
    const lo = this.nOwnLo[node];
    const t = this.ownTable;
    const mask = t.length - 1;
    let i = lo & mask;
    for (; ; i = (i + 1) & mask) {
      const n = t[i];
      if (n === NO) return;
      if (this.nOwnLo[n] === lo && this.nOwnHi[n] === hi) break;
    }
    if (t[i] === node) {
      const next = this.nNextSame[node];
      if (next !== NO) t[i] = next;
      else {
        this.deleteAt(t, i, (n) => this.nOwnLo[n]);
        this.ownUsed--;
      }
      return;
    }
    for (let p = t[i]; p !== NO; p = this.nNextSame[p]) {
      if (this.nNextSame[p] === node) {
        this.nNextSame[p] = this.nNextSame[node];
        return;
      }
    }
  }

  // ---- engine-key table: (endpoint slot, engine hash) → node ----

  private engFind(slot: number, hi: number, lo: number): number {
    const t = this.engTable;
    const mask = t.length - 1;
    for (let i = engHash(slot, hi, lo) & mask; ; i = (i + 1) & mask) {
      const n = t[i];
      if (n === NO) return NO;
      if (this.nEngLo[n] === lo && this.nEngHi[n] === hi && this.nSlot[n] === slot) return n;
    }
  }

  private engHome = (n: number): number => engHash(this.nSlot[n], this.nEngHi[n], this.nEngLo[n]);

  private engInsert(node: number): void {
    const t = this.engTable;
    const mask = t.length - 1;
    let i = this.engHome(node) & mask;
    while (t[i] !== NO) i = (i + 1) & mask;
    t[i] = node;
    if (++this.engUsed * 5 > t.length * 3) this.engTable = this.rehash(this.engTable, this.engHome);
  }

  private engDelete(node: number): void {
    const t = this.engTable;
    const mask = t.length - 1;
    for (let i = this.engHome(node) & mask; t[i] !== NO; i = (i + 1) & mask) {
      if (t[i] === node) {
        this.deleteAt(t, i, this.engHome);
        this.engUsed--;
        return;
      }
    }
  }

  /** Backward-shift deletion for linear probing (no tombstones, so churn never degrades the table). */
  private deleteAt(t: Int32Array, i: number, home: (n: number) => number): void {
    const mask = t.length - 1;
    let hole = i;
    for (let j = (i + 1) & mask; t[j] !== NO; j = (j + 1) & mask) {
      const h = home(t[j]) & mask;
      // t[j] may move into the hole unless its home lies cyclically in (hole, j].
      const movable = hole <= j ? h <= hole || h > j : h <= hole && h > j;
      if (movable) {
        t[hole] = t[j];
        hole = j;
      }
    }
    t[hole] = NO;
  }

  private rehash(old: Int32Array, home: (n: number) => number): Int32Array {
    const t = new Int32Array(old.length * 2).fill(NO);
    const mask = t.length - 1;
    for (const n of old) {
      if (n === NO) continue;
      let i = home(n) & mask;
      while (t[i] !== NO) i = (i + 1) & mask;
      t[i] = n;
    }
    return t;
  }
}
