import { xxh64Into, joinU64 } from './xxhash64.js';

/**
 * Chained block hashes over token ids, as vLLM's prefix cache keys them: block i's hash covers
 * its tokens and block i−1's hash, so a miss at block i is a miss for every later block.
 * LoRA name and cache_salt are folded into the first block's parent, so they partition the cache.
 * (vLLM's own sha256/pickle hashes are not reproducible outside Python; consumers of our KV
 * events key on these values exactly as they would on vLLM's u64 hashes.)
 */
export interface BlockHashContext {
  /** Model name / PYTHONHASHSEED equivalent. */
  seed: string;
  loraName?: string;
  cacheSalt?: string;
}

const enc = new TextEncoder();
let buf = new Uint8Array(16 * 4 + 8);
const out = new Uint32Array(2);

/** Parent "hash" of the first block: the context folded into 64 bits as [hi, lo]. */
export function rootHash(ctx: BlockHashContext): [number, number] {
  const bytes = enc.encode(`${ctx.seed}\u0000${ctx.loraName ?? ''}\u0000${ctx.cacheSalt ?? ''}`);
  xxh64Into(bytes, 0, bytes.length, 0, 0, out);
  return [out[0], out[1]];
}

/** Hash of one full block of `blockSize` tokens starting at `start`, chained on parent [hi, lo]. */
export function hashBlock(tokens: ArrayLike<number>, start: number, blockSize: number, parentHi: number, parentLo: number): [number, number] {
  const n = blockSize * 4 + 8;
  if (buf.length < n) buf = new Uint8Array(n);
  let p = 0;
  for (let i = start; i < start + blockSize; i++) p = writeU32(buf, p, tokens[i]);
  p = writeU32(buf, p, parentLo);
  writeU32(buf, p, parentHi);
  xxh64Into(buf, 0, n, 0, 0, out);
  return [out[0], out[1]];
}

/** Writes `w` little-endian at b[p..p+4); returns p + 4. */
function writeU32(b: Uint8Array, p: number, w: number): number {
  b[p] = w;
  b[p + 1] = w >>> 8;
  b[p + 2] = w >>> 16;
  b[p + 3] = w >>> 24;
  return p + 4;
}

/** Hashes of every full block of `tokens`, as unsigned 64-bit BigInts. */
export function hashBlocks(tokens: ArrayLike<number>, blockSize: number, ctx: BlockHashContext): bigint[] {
  const res: bigint[] = [];
  let [hi, lo] = rootHash(ctx);
  for (let s = 0; s + blockSize <= tokens.length; s += blockSize) {
    [hi, lo] = hashBlock(tokens, s, blockSize, hi, lo);
    res.push(joinU64(hi, lo));
  }
  return res;
}

/** A Map key for a hash: hi and the top 21 bits of lo (53 bits; collisions are negligible for a cache model). */
export function hashKey(hi: number, lo: number): number {
  return hi * 0x200000 + (lo >>> 11);
}
