/**
 * XXH64 in plain JavaScript on 32-bit halves.
 *
 * Why not a native binding: on the router's hot path a prompt of 32,000 characters is 500
 * blocks, and a native call plus a BigInt per block costs ~250 ns each (measured with
 * @node-rs/xxhash, see ARCHITECTURE.md). This implementation allocates nothing per call:
 * the result is written into a caller-owned Uint32Array as [hi, lo]. Internally every 32-bit half
 * is kept as a signed int32 (`| 0`, an Int32Array scratch): V8 passes an int32 to a function it did
 * not inline as a small integer, but an unsigned value ≥ 2^31 as a freshly allocated heap number
 * (409,600 hashes of 16-token blocks ran 140 scavenges with unsigned halves, 15 with signed).
 * Verified against @node-rs/xxhash in test/shared/xxhash64.test.ts.
 */

// Primes as [hi, lo] 32-bit halves (signed int32, see above).
const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0;
// seed − P1 is seed + (2^64 − P1): the two's complement of P1, as halves.
const NEG_P1H = ~P1H, NEG_P1L = (~P1L + 1) | 0;

// Scratch registers: results of the 64-bit helpers land here to avoid allocating pairs. Stores
// wrap modulo 2^32, so the helpers may hand them any integer-valued double.
const R = new Int32Array(2); // [hi, lo]

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  R[1] = lo;
  R[0] = ah + bh + (lo > 0xffffffff ? 1 : 0);
}

function mul(ah: number, al: number, bh: number, bl: number): void {
  // (ah·2^32 + al)(bh·2^32 + bl) mod 2^64: the full 64-bit al·bl from 16-bit halves (exact in
  // doubles), plus the cross terms mod 2^32 with Math.imul.
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p01 = a0 * b1, p10 = a1 * b0;
  const t = a0 * b0 + ((p01 & 0xffff) + (p10 & 0xffff)) * 65536;
  R[1] = t;
  R[0] = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(t / 4294967296) + Math.imul(ah, bl) + Math.imul(al, bh);
}

/** Rotate left by r, 0 < r < 32 (all XXH64 rotations are). */
function rotl(h: number, l: number, r: number): void {
  R[0] = (h << r) | (l >>> (32 - r));
  R[1] = (l << r) | (h >>> (32 - r));
}

/** acc = rotl(acc + input * P2, 31) * P1 */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, R[0], R[1]);
  rotl(R[0], R[1], 31);
  mul(R[0], R[1], P1H, P1L);
}

/** acc = (acc ^ round(0, v)) * P1 + P4; returns hi, leaves lo in R[1]. */
function mergeRound(accH: number, accL: number, vH: number, vL: number): number {
  round(0, 0, vH, vL);
  mul(accH ^ R[0], accL ^ R[1], P1H, P1L);
  add(R[0], R[1], P4H, P4L);
  return R[0];
}

function read32(b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
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
    add(R[0], R[1], P2H, P2L);
    let v1H = R[0], v1L = R[1];
    add(seedHi, seedLo, P2H, P2L);
    let v2H = R[0], v2L = R[1];
    let v3H = seedHi | 0, v3L = seedLo | 0;
    add(seedHi, seedLo, NEG_P1H, NEG_P1L);
    let v4H = R[0], v4L = R[1];
    const limit = end - 32;
    while (p <= limit) {
      round(v1H, v1L, read32(bytes, p + 4), read32(bytes, p));
      v1H = R[0]; v1L = R[1];
      round(v2H, v2L, read32(bytes, p + 12), read32(bytes, p + 8));
      v2H = R[0]; v2L = R[1];
      round(v3H, v3L, read32(bytes, p + 20), read32(bytes, p + 16));
      v3H = R[0]; v3L = R[1];
      round(v4H, v4L, read32(bytes, p + 28), read32(bytes, p + 24));
      v4H = R[0]; v4L = R[1];
      p += 32;
    }
    rotl(v1H, v1L, 1);
    hH = R[0]; hL = R[1];
    rotl(v2H, v2L, 7);
    add(hH, hL, R[0], R[1]);
    hH = R[0]; hL = R[1];
    rotl(v3H, v3L, 12);
    add(hH, hL, R[0], R[1]);
    hH = R[0]; hL = R[1];
    rotl(v4H, v4L, 18);
    add(hH, hL, R[0], R[1]);
    hH = R[0]; hL = R[1];
    // merge rounds (unrolled: no per-call array)
    hH = mergeRound(hH, hL, v1H, v1L);
    hL = R[1];
    hH = mergeRound(hH, hL, v2H, v2L);
    hL = R[1];
    hH = mergeRound(hH, hL, v3H, v3L);
    hL = R[1];
    hH = mergeRound(hH, hL, v4H, v4L);
    hL = R[1];
  } else {
    add(seedHi, seedLo, P5H, P5L);
    hH = R[0]; hL = R[1];
  }

  add(hH, hL, Math.floor(length / 0x100000000), length | 0);
  hH = R[0]; hL = R[1];

  while (p + 8 <= end) {
    round(0, 0, read32(bytes, p + 4), read32(bytes, p));
    hH ^= R[0];
    hL ^= R[1];
    rotl(hH, hL, 27);
    mul(R[0], R[1], P1H, P1L);
    add(R[0], R[1], P4H, P4L);
    hH = R[0]; hL = R[1];
    p += 8;
  }
  if (p + 4 <= end) {
    mul(0, read32(bytes, p), P1H, P1L);
    hH ^= R[0];
    hL ^= R[1];
    rotl(hH, hL, 23);
    mul(R[0], R[1], P2H, P2L);
    add(R[0], R[1], P3H, P3L);
    hH = R[0]; hL = R[1];
    p += 4;
  }
  while (p < end) {
    mul(0, bytes[p], P5H, P5L);
    hH ^= R[0];
    hL ^= R[1];
    rotl(hH, hL, 11);
    mul(R[0], R[1], P1H, P1L);
    hH = R[0]; hL = R[1];
    p++;
  }

  // avalanche
  hL ^= hH >>> 1; // h ^= h >>> 33
  mul(hH, hL, P2H, P2L);
  hH = R[0]; hL = R[1];
  hL ^= (hL >>> 29) | (hH << 3); // h ^= h >>> 29
  hH ^= hH >>> 29;
  mul(hH, hL, P3H, P3L);
  hH = R[0]; hL = R[1];
  hL ^= hH; // h ^= h >>> 32
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
