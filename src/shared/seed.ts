import { KvgateError, ErrorCode } from './errors.js';

/** The one `--seed` rule of bench, simulate, sim and up (src/cli/parse.ts's seedArg reads the flag). */

/**
 * Largest `--seed`: 2^53−1 (Number.MAX_SAFE_INTEGER). Past it a number rounds (9007199254740993
 * parses as …992), so two seeds typed apart ran alike.
 */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** The range every `--seed` takes, as --help and the errors say it. */
export const SEED_RANGE = 'an integer from 0 to 2^53-1 (9007199254740991)';

/**
 * Replicas seeded seed + i (`kvgate up`'s and `kvgate simulate`'s replicas): the last one's seed,
 * seed + count − 1, must be within MAX_SEED too, or replicas past it would share a rounded seed
 * (and `kvgate up`'s replicas failed with the sim's raw schema message). Throws InvalidConfig
 * naming `--seed` and `countFlag`.
 */
export function refuseSeedSpan(seed: number, count: number, countFlag: string): void {
  if (seed + (count - 1) <= MAX_SEED) return;
  const last = (BigInt(seed) + BigInt(count - 1)).toString();
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `--seed ${seed}: replica i runs with seed + i, so ${count} replicas (${countFlag}) need seeds up to ${last}, past 2^53-1 (${MAX_SEED}): give --seed ${MAX_SEED - (count - 1)} or lower`,
    { param: 'seed' },
  );
}

/** 2^32: where a seed's high word starts. */
const TWO_32 = 4294967296;

/**
 * A 32-bit PRNG state (createRng's mulberry32 takes 32 bits) from every bit of `seed` and a
 * per-use `salt` (any 32-bit constant, so the engine's noise, the router's picks and so on draw
 * different streams from one seed): the seed's low word xor `salt` xor its high word times
 * 0x85ebca6b (murmur3's fmix constant, as createRng folds a high word). `seed`: a safe integer
 * (the `--seed` range, 0 … 2^53−1; a negative one folds its two's-complement high word).
 *
 * Seeds below 2^32 give `(seed ^ salt) >>> 0`, the state the callers always used, so runs with
 * them stay as they were. Two seeds that differ only above bit 31 (1 and 1 + 2^32) differed
 * nowhere in the `>>> 0` / `^` states and ran alike. Here two seeds differing in one bit always
 * give different states: a low-word bit flips that bit of the state; a high-word bit changes the
 * high word, and multiplying by an odd constant is a bijection mod 2^32.
 */
export function mixSeed(seed: number, salt: number): number {
  const hi = Math.floor(seed / TWO_32) >>> 0;
  return ((seed >>> 0) ^ salt ^ Math.imul(hi, 0x85ebca6b)) >>> 0;
}
