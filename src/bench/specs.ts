import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * The load and goal specs `kvgate bench` and `kvgate simulate` both take, parsed once so one
 * spelling means the same in real and in virtual time.
 */

/** inference-perf's `rate:duration` stages ("3:60,10:30"), seconds; both must be positive. */
export function parseStages(v: string): { rate: number; durationS: number }[] {
  return v.split(',').map((part) => {
    const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)s?$/.exec(part.trim());
    if (!m || !(Number(m[1]) > 0) || !(Number(m[2]) > 0)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--stages entries look like rate:seconds with both positive, e.g. 3:60,10:30 (got "${part}")`, { param: 'stages' });
    }
    return { rate: Number(m[1]), durationS: Number(m[2]) };
  });
}
