import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Command, Option } from 'commander';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * Applies llm-d-inference-sim's `--config` YAML to `kvgate sim`'s parsed options: each key is a
 * flag's long name; a value from the file is used only where the flag was not on the command line
 * (llm-d-inference-sim's precedence). Values go through the flag's own parser; lists are a YAML
 * list or one string; `fake-metrics` may be a mapping. An unknown key is an error naming it.
 */
export function applySimConfigFile(cmd: Command, path: string): void {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot read --config ${path}: ${(err as Error).message}`, { param: 'config' });
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new KvgateError(ErrorCode.InvalidConfig, `--config ${path}: expected a mapping of flag names to values`, { param: 'config' });
  const byLong = new Map<string, Option>(cmd.options.filter((o) => o.long).map((o) => [o.long!.slice(2), o]));
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const opt = byLong.get(key);
    if (!opt || key === 'config' || opt.negate) throw new KvgateError(ErrorCode.InvalidConfig, `--config ${path}: unknown key "${key}"`, { param: key });
    const attr = opt.attributeName();
    const source = cmd.getOptionValueSource(attr);
    if (source !== undefined && source !== 'default') continue; // the command line wins
    if (value === null || value === undefined) continue;
    const parse = (v: unknown, prev: unknown) => {
      const text = typeof v === 'object' ? JSON.stringify(v) : String(v);
      try {
        return opt.parseArg ? opt.parseArg(text, prev) : opt.required || opt.optional ? text : Boolean(v);
      } catch (err) {
        throw new KvgateError(ErrorCode.InvalidConfig, `--config ${path}: ${key}: ${(err as Error).message}`, { param: key });
      }
    };
    let parsed: unknown;
    if (Array.isArray(value)) {
      parsed = undefined;
      for (const v of value) parsed = parse(v, parsed);
    } else if (typeof value === 'boolean' && !opt.parseArg) {
      parsed = value;
    } else {
      parsed = parse(value, undefined);
    }
    cmd.setOptionValueWithSource(attr, parsed, 'config');
  }
}
