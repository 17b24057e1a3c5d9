import { InvalidArgumentError, Option } from 'commander';

/** commander argument parsers that name the bad value. */
export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min} (got "${v}")`);
    return n;
  };
}

/** A TCP port: an integer in [min, 65535] (0 = the OS picks one, where a flag allows it). */
export function portArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > 65535) throw new InvalidArgumentError(`${name} must be a port number from ${min} to 65535 (got "${v}")`);
    return n;
  };
}

export function numberArg(name: string, min = 0, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}] (got "${v}")`);
    return n;
  };
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration flag's value → milliseconds: "500ms", "30s", "1.5m", "1h", or a bare number in
 * `bareUnit`. kvgate's duration flags read a bare number as seconds (`bench --duration 3` is 3 s,
 * as `--stages rate:seconds` and inference-perf's durations). Errors name the flag.
 */
export function durationArg(name: string, bareUnit: 's' | 'ms' = 's') {
  return (v: string): number => {
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/.exec(v.trim());
    if (!m) throw new InvalidArgumentError(`${name} must be a duration like 500ms, 30s or 2m${bareUnit === 's' ? ' (a bare number is seconds)' : ''} (got "${v}")`);
    return Number(m[1]) * UNIT_MS[(m[2] ?? bareUnit) as keyof typeof UNIT_MS];
  };
}

/** Milliseconds as a duration flag would be written: 50 → "50ms", 30000 → "30s", 600000 → "10m". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The one help line every command with duration flags ends with. */
export const DURATION_HELP = '\nDurations: 500ms, 30s, 2m or 1h; a bare number is seconds.';

/**
 * A `--flag <duration>` option: parsed by durationArg (bare number = seconds), value in
 * milliseconds, its default shown with a unit in --help ("(default: 30s)").
 */
export function durationOption(flag: string, description: string, defaultMs?: number): Option {
  const opt = new Option(`${flag} <duration>`, description).argParser(durationArg(flag, 's'));
  return defaultMs === undefined ? opt : opt.default(defaultMs, formatDuration(defaultMs));
}

/** Repeatable and comma-separated list option. */
export function listArg(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** Resolves once SIGINT or SIGTERM arrives. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
