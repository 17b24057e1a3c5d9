import { InvalidArgumentError } from 'commander';
import { parseGoDurationMs } from './go-duration.js';

/**
 * commander argument parsers for `kvgate sim`, which takes vLLM's and llm-d-inference-sim's
 * spellings: Go durations, pflag-style booleans (`--flag`, `--flag=true`, `--flag false`) and
 * space-separated lists (`--failure-types a b`, also comma-separated or repeated).
 */

/** A duration in milliseconds: "250ms", "1.5s", "750us", "1m30s", or a bare number of ms. */
export function goDurationArg(name: string) {
  return (v: string): number => {
    const ms = parseGoDurationMs(v);
    if (ms === null) throw new InvalidArgumentError(`${name} must be a duration such as 250ms, 1.5s or 2m, or milliseconds (got "${v}")`);
    return ms;
  };
}

/** The value of a boolean flag given one (true/false/1/0/yes/no, any case). */
export function boolArg(name: string) {
  return (v: string): boolean => {
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 't'].includes(s)) return true;
    if (['false', '0', 'no', 'f'].includes(s)) return false;
    throw new InvalidArgumentError(`${name} takes true or false (got "${v}")`);
  };
}

/** Variadic list option: each value may itself be a comma list; repeats accumulate. */
export function listValues(v: string, prev?: string[]): string[] {
  return [...(prev ?? []), ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

/**
 * A list of names (`--served-model-name a b`, `a,b`, repeats accumulate), none of them empty.
 * listValues drops empty entries, so `--served-model-name ''` (an unset variable) fell back to
 * --model unnoticed. The reference (../shared/reference/routers-and-vllm.md §6.2, llm-d-inference-sim's
 * flags) gives no rule that accepts an empty name, so an empty name, alone or in a comma list, is
 * an error naming the flag.
 */
export function nameListValues(name: string) {
  return (v: string, prev?: string[]): string[] => {
    const names = v.split(',').map((s) => s.trim());
    if (names.some((s) => s === '')) throw new InvalidArgumentError(`${name} takes no empty model name (got "${v}"; an unset variable?)`);
    return [...(prev ?? []), ...names];
  };
}

/** Variadic option whose values are kept whole (JSON objects contain commas). */
export function rawValues(v: string, prev?: string[]): string[] {
  return [...(prev ?? []), v];
}

/** A JSON object argument. */
export function jsonArg(name: string) {
  return (v: string): Record<string, unknown> => {
    let o: unknown;
    try {
      o = JSON.parse(v);
    } catch (err) {
      throw new InvalidArgumentError(`${name} must be JSON (${(err as Error).message})`);
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new InvalidArgumentError(`${name} must be a JSON object`);
    return o as Record<string, unknown>;
  };
}

/** A number within [min, max]. */
export function rangeArg(name: string, min: number, max = Infinity, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max === Infinity ? '∞' : max}] (got "${v}")`);
    }
    return n;
  };
}
