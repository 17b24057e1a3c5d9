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
