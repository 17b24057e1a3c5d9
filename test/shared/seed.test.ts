// mixSeed: a 32-bit PRNG state from every bit of a --seed (0 … 2^53−1). The engine, the sim and
// the router reduced seeds with `>>> 0` / `^`, so 1 and 1 + 2^32 ran alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_SEED, mixSeed } from '../../src/shared/seed.js';
import { createRng } from '../../src/shared/rng.js';

const TWO_32 = 2 ** 32;
/** Salts the callers use (engine noise, per-request, sim server, router) and 0. */
const SALTS = [0, 0x6a09e667, 0x5eed, 0x2545f491];
/** `seed` with bit `b` (0 … 52) flipped, exactly (bits past 31 are out of reach of JS's bit operators). */
const flipBit = (seed: number, b: number) => (Math.floor(seed / 2 ** b) % 2 === 1 ? seed - 2 ** b : seed + 2 ** b);
const seeds = fc.integer({ min: 0, max: MAX_SEED });

test('mixSeed gives the state the callers always used for seeds below 2^32, and a 32-bit unsigned integer', () => {
  for (const salt of SALTS) {
    for (const seed of [0, 1, 42, 0x7fffffff, 0x80000000, TWO_32 - 1]) assert.equal(mixSeed(seed, salt), (seed ^ salt) >>> 0, `seed ${seed}, salt ${salt}`);
  }
  fc.assert(
    fc.property(seeds, fc.constantFrom(...SALTS), (seed, salt) => {
      const s = mixSeed(seed, salt);
      return Number.isInteger(s) && s >= 0 && s < TWO_32;
    }),
  );
});

test('seeds 2^32 apart give different states (the bug: 1 and 1 + 2^32 ran alike)', () => {
  for (const salt of SALTS) {
    assert.notEqual(mixSeed(1 + TWO_32, salt), mixSeed(1, salt));
    assert.notEqual(mixSeed(MAX_SEED, salt), mixSeed(MAX_SEED - 2 ** 52, salt));
  }
});

test('every one of the 53 bits matters: seeds differing in any one bit give different states', () => {
  // Not a probabilistic claim: a low-word bit flips that bit of the state; a high-word bit changes
  // the high word, which is multiplied by an odd constant (a bijection mod 2^32).
  fc.assert(
    fc.property(seeds, fc.constantFrom(...SALTS), (seed, salt) => {
      for (let b = 0; b < 53; b++) {
        const other = flipBit(seed, b);
        if (other > MAX_SEED || other < 0) return false;
        if (mixSeed(other, salt) === mixSeed(seed, salt)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test('seeds sharing a low word, or a high word, never share a state', () => {
  fc.assert(
    fc.property(fc.nat({ max: TWO_32 - 1 }), fc.nat({ max: 2 ** 21 - 1 }), fc.nat({ max: 2 ** 21 - 1 }), (lo, hiA, hiB) => {
      fc.pre(hiA !== hiB);
      return mixSeed(hiA * TWO_32 + lo, 0x5eed) !== mixSeed(hiB * TWO_32 + lo, 0x5eed);
    }),
  );
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 21 - 1 }), fc.nat({ max: TWO_32 - 1 }), fc.nat({ max: TWO_32 - 1 }), (hi, loA, loB) => {
      fc.pre(loA !== loB);
      return mixSeed(hi * TWO_32 + loA, 0x5eed) !== mixSeed(hi * TWO_32 + loB, 0x5eed);
    }),
  );
});

test('createRng folds a seed as mixSeed(seed, 0) does', () => {
  fc.assert(fc.property(seeds, (seed) => createRng(seed)() === createRng(mixSeed(seed, 0))()));
});
