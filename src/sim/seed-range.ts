import { KvgateError, ErrorCode } from '../shared/errors.js';

/** torch.long's range, the bounds vLLM's protocol puts on `seed` (`ge=_LONG_INFO.min, le=_LONG_INFO.max`). */
const LONG_MIN = -(2 ** 63);
const LONG_MAX_EXCLUSIVE = 2 ** 63; // 2^63 − 1 is not a double: anything at or above 2^63 is out

/** A request `seed` vLLM would take: a 64-bit signed integer; outside it, vLLM's 400 (pydantic's bound check). */
export function checkSeedRange(seed: number | null): void {
  if (seed !== null && (seed < LONG_MIN || seed >= LONG_MAX_EXCLUSIVE)) {
    throw new KvgateError(ErrorCode.InvalidRequest, `seed must be a 64-bit integer, from -9223372036854775808 to 9223372036854775807 (got ${seed})`, { param: 'seed' });
  }
}
