import { existsSync, statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { listProfiles } from '../engine/profiles.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * `--profile` (up, sim): the name of a shipped simulator profile (profiles/*.json). An unknown
 * name is refused while the flags are parsed, naming the flag and listing the profiles; the
 * engine's own check ran later and named only the profile ("unknown profile "qwen"").
 */
export function profileArg() {
  return (v: string): string => {
    const known = listProfiles();
    if (!known.includes(v)) throw new InvalidArgumentError(`unknown profile "${v}" (available: ${known.join(', ')})`); // commander names the flag
    return v;
  };
}

/**
 * `--tokenizer` (up, sim, serve, epp): `estimate`, `qwen`, or the path of a tokenizer.json. A value
 * that is neither keyword nor an existing file (a typo'd keyword, a wrong path) is refused while
 * the flags are parsed, naming the flag and the accepted forms; before, it was read as a path and
 * failed at start-up with ENOENT and no flag named. The file's contents are checked when loaded.
 */
export function tokenizerArg(name: string) {
  return (v: string): string => {
    const problem = tokenizerSpecProblem(name, v);
    if (problem) throw new InvalidArgumentError(problem);
    return v;
  };
}

/** `tokenizerArg`'s check where the value is used, not parsed (kvgate sim): KvgateError InvalidConfig naming the flag. */
export function checkTokenizerSpec(name: string, v: string): void {
  const problem = tokenizerSpecProblem(name, v);
  if (problem) throw new KvgateError(ErrorCode.InvalidConfig, problem, { param: 'tokenizer' });
}

function tokenizerSpecProblem(name: string, v: string): string | undefined {
  if (v === 'estimate' || v === 'qwen') return undefined;
  if (!existsSync(v)) return `${name} must be estimate, qwen or the path of a tokenizer.json: no file "${v}"`;
  if (!statSync(v).isFile()) return `${name} must be estimate, qwen or the path of a tokenizer.json: "${v}" is not a file`;
  return undefined;
}
