/**
 * Request priorities. GIE's InferenceObjective types `spec.priority` as a Kubernetes int32, so a
 * kvgate priority is a decimal integer in the int32 range wherever it comes from — the trusted
 * `x-kvgate-priority` header, `--default-priority`, `--objective NAME=PRIORITY` or an objective
 * manifest — and one parser decides for all of them, so they accept the same values. (Before, the
 * header took `1.5` or `0x10` and silently turned `abc` into 0.) This module has no dependencies,
 * so the CLI can use it while parsing flags.
 */

/** The header a trusted client names its priority in (overrides its objective's). */
export const PRIORITY_HEADER = 'x-kvgate-priority';

export const PRIORITY_MIN = -2147483648;
export const PRIORITY_MAX = 2147483647;

/** What every priority error says a priority must be. */
export const PRIORITY_RULE = `a decimal integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}`;

const DECIMAL_INTEGER = /^[+-]?\d+$/;

/** The priority `text` spells, or undefined when it is not a decimal integer in the int32 range. */
export function parsePriority(text: string): number | undefined {
  const t = text.trim();
  // The pattern keeps out what Number() would also accept: hex, exponents, fractions, "" (= 0).
  if (!DECIMAL_INTEGER.test(t)) return undefined;
  const n = Number(t);
  // `+ 0` turns "-0" into 0, so it labels metrics as "0".
  return n >= PRIORITY_MIN && n <= PRIORITY_MAX ? n + 0 : undefined;
}

/** Whether a number (a YAML or Kubernetes field) is a valid priority. */
export function isPriority(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= PRIORITY_MIN && n <= PRIORITY_MAX;
}
