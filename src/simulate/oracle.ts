/**
 * The oracle prefix-cache hit rate: what an infinite KV cache with perfect placement would have
 * served — every block any earlier request computed (its prompt when it arrived, a conversation's
 * answer when it finished) is a hit for any later request, whichever replica it went to. Counted
 * as the engine counts: leading full blocks only, at most ⌊(n−1)/B⌋ of them.
 *
 * Blocks are keyed by a chained 53-bit hash of their token ids (the oracle needs equality, not
 * vLLM's hash values), two 32-bit FNV-1a-style lanes so keying stays cheap on 100M-token traces.
 */
export class PrefixOracle {
  private readonly seen = new KeySet();

  constructor(readonly blockSize: number) {}

  /** Cached tokens the oracle grants a prompt, then records the prompt's blocks as computed. */
  lookupAndAdd(tokens: ArrayLike<number>): number {
    const B = this.blockSize;
    const maxHit = Math.floor((tokens.length - 1) / B);
    let hit = 0;
    let missed = false;
    let a = 0x811c9dc5;
    let b = 0x01000193;
    for (let blk = 0; (blk + 1) * B <= tokens.length; blk++) {
      for (let i = blk * B; i < (blk + 1) * B; i++) {
        const t = tokens[i];
        a = Math.imul(a ^ t, 0x01000193);
        b = Math.imul(b ^ (t + 0x9e37), 0x85ebca6b) ^ (b >>> 13);
      }
      const key = (a >>> 0) * 0x200000 + ((b >>> 0) >>> 11);
      if (!missed && blk < maxHit && this.seen.has(key)) hit++;
      else missed = true;
      this.seen.add(key);
    }
    return hit * B;
  }

  /** Records blocks without counting hits (a conversation's prompt plus its answer, at completion). */
  add(tokens: ArrayLike<number>): void {
    this.lookupAndAdd(tokens);
  }
}

/**
 * The same oracle for trace requests, on their 512-token block ids instead of their tokens (a
 * Mooncake replay has 145M prompt tokens and 24 ids a request): a block id, chained on the ids
 * before it, stands for its tokens, and a block seen shorter (a request's partial last block)
 * serves only as many tokens as were seen. Counted at the engine's block size and ⌊(n−1)/B⌋ cap,
 * so it agrees with PrefixOracle on the tokens trace.ts synthesises.
 */
export class TraceBlockOracle {
  /** Chained block key → most tokens of that block any request has had. */
  private readonly seen = new Map<number, number>();

  constructor(readonly blockSize: number, readonly traceBlockTokens: number) {}

  lookupAndAdd(hashIds: number[], inputLength: number): number {
    let hit = 0;
    let open = true;
    let a = 0x811c9dc5;
    let b = 0x01000193;
    for (let i = 0; i < hashIds.length; i++) {
      const id = hashIds[i];
      a = Math.imul(a ^ (id & 0xffff), 0x01000193) ^ (id >>> 16);
      b = Math.imul(b ^ (id + 0x9e37), 0x85ebca6b) ^ (b >>> 13);
      // The bit operations above see the id's low 32 bits only: an id of 2^32 or more (trace ids
      // go to 2^53 − 1) folds its high word in too, or id and id + 2^32 would be one block. Ids
      // below 2^32 keep the keys they always had.
      const hi = id > 0xffffffff ? Math.floor(id / 0x100000000) : 0;
      if (hi > 0) {
        a = Math.imul(a ^ hi, 0x01000193);
        b = Math.imul(b ^ (hi + 0x7f4a7c15), 0x85ebca6b) ^ (b >>> 13);
      }
      const key = (a >>> 0) * 0x200000 + ((b >>> 0) >>> 11);
      const len = Math.min(this.traceBlockTokens, inputLength - i * this.traceBlockTokens);
      const had = this.seen.get(key);
      if (open) {
        if (had === undefined) open = false;
        else {
          hit += Math.min(had, len);
          if (had < len || len < this.traceBlockTokens) open = false;
        }
      }
      if (had === undefined || len > had) this.seen.set(key, len);
    }
    const B = this.blockSize;
    return Math.min(Math.floor(hit / B) * B, Math.floor((inputLength - 1) / B) * B);
  }
}

/** An open-addressing set of positive 53-bit integers in one Float64Array (a Set of millions of doubles costs ~40 bytes each). */
class KeySet {
  private table = new Float64Array(1 << 16);
  private size = 0;

  has(key: number): boolean {
    const k = key + 1; // 0 marks an empty slot
    const mask = this.table.length - 1;
    for (let i = slot(k, mask); ; i = (i + 1) & mask) {
      const v = this.table[i];
      if (v === k) return true;
      if (v === 0) return false;
    }
  }

  add(key: number): void {
    const k = key + 1;
    const mask = this.table.length - 1;
    for (let i = slot(k, mask); ; i = (i + 1) & mask) {
      const v = this.table[i];
      if (v === k) return;
      if (v === 0) {
        this.table[i] = k;
        if (++this.size * 2 > this.table.length) this.grow();
        return;
      }
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Float64Array(old.length * 2);
    const mask = this.table.length - 1;
    for (const k of old) {
      if (k === 0) continue;
      let i = slot(k, mask);
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = k;
    }
  }
}

function slot(k: number, mask: number): number {
  return (Math.imul((k % 0x100000000) ^ Math.floor(k / 0x100000000), 0x9e3779b1) >>> 0) & mask;
}
