import { mixSeed } from './seed.js';

/**
 * Small seeded PRNG (mulberry32): deterministic streams for token sampling and jitter. `seed`: any
 * safe integer. mulberry32's state is 32 bits: a seed of 0 or more becomes mixSeed(seed, 0), its
 * high word folded in (seed and seed + 2^32 gave one stream), so every seed below 2^32 keeps the
 * stream it always had; a negative seed keeps its low word's stream, as it always did.
 */
export function createRng(seed: number): () => number {
  let a = seed < 0 ? seed >>> 0 : mixSeed(seed, 0);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
