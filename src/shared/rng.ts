/**
 * Small seeded PRNG (mulberry32): deterministic streams for token sampling and jitter. `seed`: any
 * safe integer. mulberry32's state is 32 bits: a seed of 2^32 or more has its high word folded in
 * (seed and seed + 2^32 gave one stream), while every seed below 2^32, and every negative one,
 * keeps the stream it always had.
 */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  if (seed > 0xffffffff) a = (a ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x85ebca6b)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
