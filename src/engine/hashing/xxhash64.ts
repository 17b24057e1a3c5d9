/**
 * XXH64 in plain JavaScript on 32-bit halves.
 *
 * Why not a native binding: on the router's hot path a prompt of 32,000 characters is 500
 * blocks, and a native call plus a BigInt per block costs ~250 ns each (measured with
 * @node-rs/xxhash, see ARCHITECTURE.md). This implementation allocates nothing per call:
 * the result is written into a caller-owned Uint32Array as [hi, lo].
 * Verified against @node-rs/xxhash in test/engine/xxhash64.test.ts.
 */

// Primes as [hi, lo] 32-bit halves.
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

// Scratch registers: results of the 64-bit helpers land here to avoid allocating pairs.
let rH = 0;
let rL = 0;

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  rL = lo >>> 0;
  rH = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

function mul(ah: number, al: number, bh: number, bl: number): void {
  const a48 = ah >>> 16, a32 = ah & 0xffff, a16 = al >>> 16, a00 = al & 0xffff;
  const b48 = bh >>> 16, b32 = bh & 0xffff, b16 = bl >>> 16, b00 = bl & 0xffff;
  let c00 = a00 * b00;
  let c16 = c00 >>> 16;
  c00 &= 0xffff;
  c16 += a16 * b00;
  let c32 = c16 >>> 16;
  c16 &= 0xffff;
  c16 += a00 * b16;
  c32 += c16 >>> 16;
  c16 &= 0xffff;
  c32 += a32 * b00;
  let c48 = c32 >>> 16;
  c32 &= 0xffff;
  c32 += a16 * b16;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  c32 += a00 * b32;
  c48 += c32 >>> 16;
  c32 &= 0xffff;
  c48 += a48 * b00 + a32 * b16 + a16 * b32 + a00 * b48;
  c48 &= 0xffff;
  rH = ((c48 << 16) | c32) >>> 0;
  rL = ((c16 << 16) | c00) >>> 0;
}

/** Rotate left by r, 0 < r < 32 (all XXH64 rotations are). */
function rotl(h: number, l: number, r: number): void {
  rH = ((h << r) | (l >>> (32 - r))) >>> 0;
  rL = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** acc = rotl(acc + input * P2, 31) * P1 */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, rH, rL);
  rotl(rH, rL, 31);
  mul(rH, rL, P1H, P1L);
}

function read32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/**
 * Hashes bytes[offset, offset+length) with a 64-bit seed given as halves; writes [hi, lo] to out.
 */
export function xxh64Into(
  bytes: Uint8Array,
  offset: number,
  length: number,
  seedHi: number,
  seedLo: number,
  out: Uint32Array,
): void {
  let p = offset;
  const end = offset + length;
  let hH: number, hL: number;

  if (length >= 32) {
    add(seedHi, seedLo, P1H, P1L);
    add(rH, rL, P2H, P2L);
    let v1H = rH, v1L = rL;
    add(seedHi, seedLo, P2H, P2L);
    let v2H = rH, v2L = rL;
    let v3H = seedHi >>> 0, v3L = seedLo >>> 0;
    // seed - P1 == seed + (2^64 - P1)
    add(seedHi, seedLo, (~P1H) >>> 0, (~P1L + 1) >>> 0);
    let v4H = rH, v4L = rL;
    const limit = end - 32;
    while (p <= limit) {
      round(v1H, v1L, read32(bytes, p + 4), read32(bytes, p));
      v1H = rH; v1L = rL;
      round(v2H, v2L, read32(bytes, p + 12), read32(bytes, p + 8));
      v2H = rH; v2L = rL;
      round(v3H, v3L, read32(bytes, p + 20), read32(bytes, p + 16));
      v3H = rH; v3L = rL;
      round(v4H, v4L, read32(bytes, p + 28), read32(bytes, p + 24));
      v4H = rH; v4L = rL;
      p += 32;
    }
    rotl(v1H, v1L, 1);
    hH = rH; hL = rL;
    rotl(v2H, v2L, 7);
    add(hH, hL, rH, rL);
    hH = rH; hL = rL;
    rotl(v3H, v3L, 12);
    add(hH, hL, rH, rL);
    hH = rH; hL = rL;
    rotl(v4H, v4L, 18);
    add(hH, hL, rH, rL);
    hH = rH; hL = rL;
    // merge rounds
    const vs = [v1H, v1L, v2H, v2L, v3H, v3L, v4H, v4L];
    for (let k = 0; k < 8; k += 2) {
      round(0, 0, vs[k], vs[k + 1]);
      hH = (hH ^ rH) >>> 0;
      hL = (hL ^ rL) >>> 0;
      mul(hH, hL, P1H, P1L);
      add(rH, rL, P4H, P4L);
      hH = rH; hL = rL;
    }
  } else {
    add(seedHi, seedLo, P5H, P5L);
    hH = rH; hL = rL;
  }

  add(hH, hL, Math.floor(length / 0x100000000), length >>> 0);
  hH = rH; hL = rL;

  while (p + 8 <= end) {
    round(0, 0, read32(bytes, p + 4), read32(bytes, p));
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 27);
    mul(rH, rL, P1H, P1L);
    add(rH, rL, P4H, P4L);
    hH = rH; hL = rL;
    p += 8;
  }
  if (p + 4 <= end) {
    mul(0, read32(bytes, p), P1H, P1L);
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 23);
    mul(rH, rL, P2H, P2L);
    add(rH, rL, P3H, P3L);
    hH = rH; hL = rL;
    p += 4;
  }
  while (p < end) {
    mul(0, bytes[p], P5H, P5L);
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 11);
    mul(rH, rL, P1H, P1L);
    hH = rH; hL = rL;
    p++;
  }

  // avalanche
  hL = (hL ^ (hH >>> 1)) >>> 0; // h ^= h >>> 33
  mul(hH, hL, P2H, P2L);
  hH = rH; hL = rL;
  hL = (hL ^ ((hL >>> 29) | (hH << 3))) >>> 0; // h ^= h >>> 29
  hH = (hH ^ (hH >>> 29)) >>> 0;
  mul(hH, hL, P3H, P3L);
  hH = rH; hL = rL;
  hL = (hL ^ hH) >>> 0; // h ^= h >>> 32
  out[0] = hH;
  out[1] = hL;
}

const scratch = new Uint32Array(2);

/** Convenience form returning a BigInt. Off the hot path only. */
export function xxh64(bytes: Uint8Array, seed: bigint = 0n): bigint {
  const s = BigInt.asUintN(64, seed);
  xxh64Into(bytes, 0, bytes.length, Number(s >> 32n), Number(s & 0xffffffffn), scratch);
  return (BigInt(scratch[0]) << 32n) | BigInt(scratch[1]);
}

/** Joins [hi, lo] halves into an unsigned 64-bit BigInt (for KV events and display). */
export function joinU64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
