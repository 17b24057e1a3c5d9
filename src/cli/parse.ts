import { InvalidArgumentError, Option } from 'commander';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { parseListenHost } from '../shared/host-port.js';
import { MAX_KV_BLOCKS, MAX_REPLICAS, describeBlockLimit } from '../engine/limits.js';
import { MAX_NUM_REQUESTS, MAX_SHAPE_COUNT, MAX_SHAPE_TOKENS } from '../bench/workloads.js';
import { SEED_RANGE } from '../shared/seed.js';

/**
 * `Number("")` and `Number("  ")` are 0, so a blank value — an unset variable in `--grpc-port "$PORT"`
 * — would pass as 0 (a free port, an empty queue) without a word. The numeric parsers refuse it.
 */
function blank(v: string): boolean {
  return v.trim() === '';
}

/** commander argument parsers that name the bad value. */
export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (blank(v) || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min} (got "${v}")`);
    return n;
  };
}

/**
 * `--seed` of bench, simulate, sim and up: an integer from 0 to MAX_SEED. Negative seeds are
 * refused as vLLM refuses them: its `--seed` seeds numpy (`np.random.seed`), which takes only
 * seeds ≥ 0, so a fleet started with `--seed -1` would not start. One rule for every command
 * (`simulate` refused -1 while `sim` and `up` took it).
 */
export function seedArg(name: string) {
  return (v: string): number => {
    // Number() as intArg reads integers; past 2^53-1 it rounds, and isSafeInteger sees that.
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be ${SEED_RANGE} (got "${v}")`);
    return n + 0; // "-0" → 0
  };
}

/**
 * A KV cache size in blocks (`--kv-cache-size` of sim, up and simulate): an integer from 1 to
 * MAX_KV_BLOCKS, what the engine model can allocate (src/engine/limits.ts); "1e10" was taken and
 * crashed in a typed-array RangeError.
 */
export function kvBlocksArg(name: string) {
  const int = intArg(name, 1);
  return (v: string): number => {
    const n = int(v);
    if (n > MAX_KV_BLOCKS) throw new InvalidArgumentError(`${name} must be at most ${describeBlockLimit(MAX_KV_BLOCKS)}, what the engine model can allocate for one replica (got "${v}")`);
    return n;
  };
}

/**
 * A replica count from 1 to `max`: `kvgate simulate`'s (`--replicas`, plan's `--max-replicas`)
 * up to MAX_REPLICAS by default; `kvgate up` passes MAX_UP_REPLICAS and what it is (`why`).
 */
export function replicasArg(name: string, max = MAX_REPLICAS, why = 'the largest fleet kvgate simulate models') {
  const int = intArg(name, 1);
  return (v: string): number => {
    const n = int(v);
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max} replicas, ${why} (got "${v}")`);
    return n;
  };
}

/** A request count (`--num-requests` of bench and simulate, bench's `--requests`): 1 to MAX_NUM_REQUESTS. */
export function numRequestsArg(name: string) {
  const int = intArg(name, 1);
  return (v: string): number => {
    const n = int(v);
    if (n > MAX_NUM_REQUESTS) throw new InvalidArgumentError(`${name} must be at most ${MAX_NUM_REQUESTS.toLocaleString('en-US')} requests, what one run holds in memory (got "${v}")`);
    return n;
  };
}

/**
 * A workload shape flag (addWorkloadShapeOptions): an integer from 1 to MAX_SHAPE_TOKENS for a
 * length in tokens, or to MAX_SHAPE_COUNT for a count (src/bench/workloads.ts says why each).
 */
export function shapeArg(name: string, kind: 'tokens' | 'count') {
  const int = intArg(name, 1);
  const [max, what] = kind === 'tokens' ? [MAX_SHAPE_TOKENS, "tokens (2^24), above any served model's context window"] : [MAX_SHAPE_COUNT, ', the most requests one run holds'];
  return (v: string): number => {
    const n = int(v);
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max.toLocaleString('en-US')}${kind === 'tokens' ? ' ' : ''}${what} (got "${v}")`);
    return n;
  };
}

const UNIT_BYTES: Record<string, number> = { b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/**
 * A byte-size flag's value → bytes: a bare integer, or a number with a unit as the help shows
 * defaults ("16 MiB", "16MiB", "512KiB", "1.5GB"; units B, KB/MB/GB = 1000^n, KiB/MiB/GiB = 1024^n,
 * case-insensitive). The help printed "(default: 16 MiB)" while only bare integers were taken.
 * Errors name the flag; the result is a whole number of bytes ≥ `min`.
 */
export function bytesArg(name: string, min = 0) {
  return (v: string): number => {
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(v.trim());
    const unit = m ? UNIT_BYTES[(m[2] || 'b').toLowerCase()] : undefined;
    const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be a whole number of bytes >= ${min}, bare or with a unit such as 512KiB, 16MiB or 1GB (got "${v}")`);
    }
    return n;
  };
}

/**
 * A listen address (`--host`): IPv4, a name, or IPv6 bare or bracketed (`::1`, `[::1]`), given
 * back bare as `listen()` takes it. Empty, or brackets around anything but IPv6, is refused.
 */
export function hostArg(name: string) {
  return (v: string): string => {
    const r = parseListenHost(v, name);
    if ('error' in r) throw new InvalidArgumentError(r.error);
    return r.host;
  };
}

/** A TCP port: an integer in [min, 65535] (0 = the OS picks one, where a flag allows it). */
export function portArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (blank(v) || !Number.isInteger(n) || n < min || n > 65535) throw new InvalidArgumentError(`${name} must be a port number from ${min} to 65535 (got "${v}")`);
    return n;
  };
}

/**
 * The most hours a month can bill (`--hours-per-month` of cost and simulate plan): 31 days × 24 h.
 * A larger figure overstated $/month (1000 was taken and billed as 1000 hours).
 */
export const MAX_HOURS_PER_MONTH = 31 * 24;

/** A finite number in [min, max]; with no upper bound the message says ">= min", not "[min, Infinity]" (which read as if Infinity were allowed). */
export function numberArg(name: string, min = 0, max = Infinity) {
  const range = max === Infinity ? `a finite number >= ${min}` : `a number in [${min}, ${max}]`;
  return (v: string): number => {
    const n = Number(v);
    if (blank(v) || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be ${range} (got "${v}")`);
    return n;
  };
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * The longest duration a flag takes: Node's timers hold at most 2^31-1 ms, and a longer delay
 * fires after 1 ms instead (a scrape or probe loop would then spin), so refuse it here.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Lower bounds of a duration flag, beyond "not negative". */
export interface DurationBounds {
  /** The smallest value taken, in ms (e.g. 1 for a timer period: Node cannot wait less). */
  minMs?: number;
  /** More than 0 (a period or window: 0 would divide by zero or loop without pause). */
  positive?: boolean;
  /** 0 is taken as "off" even though it is below minMs. */
  zeroIsOff?: boolean;
}

/**
 * A duration flag's value → milliseconds: "500ms", "30s", "1.5m", "1h", or a bare number in
 * `bareUnit`. kvgate's duration flags read a bare number as seconds (`bench --duration 3` is 3 s,
 * as `--stages rate:seconds` and inference-perf's durations). Errors name the flag.
 */
export function durationArg(name: string, bareUnit: 's' | 'ms' = 's', bounds: DurationBounds = {}) {
  return (v: string): number => {
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/.exec(v.trim());
    if (!m) throw new InvalidArgumentError(`${name} must be a duration like 500ms, 30s or 2m${bareUnit === 's' ? ' (a bare number is seconds)' : ''} (got "${v}")`);
    const ms = Number(m[1]) * UNIT_MS[(m[2] ?? bareUnit) as keyof typeof UNIT_MS];
    if (ms > MAX_DURATION_MS) throw new InvalidArgumentError(`${name} must be at most 596h (got "${v}")`);
    if (bounds.positive && ms <= 0) throw new InvalidArgumentError(`${name} must be more than 0 (got "${v}")`);
    const min = bounds.minMs ?? 0;
    if (ms < min && !(bounds.zeroIsOff && ms === 0)) {
      throw new InvalidArgumentError(`${name} must be ${bounds.zeroIsOff ? '0 (off) or ' : ''}at least ${formatDuration(min)} (got "${v}")`);
    }
    return ms;
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
export const DURATION_HELP = '\nDurations: 500ms, 30s, 2m or 1h; a bare number is seconds; at most 596h (the longest timer Node holds).';

/**
 * A `--flag <duration>` option: parsed by durationArg (bare number = seconds), value in
 * milliseconds, its default shown with a unit in --help ("(default: 30s)"), and its lower bound,
 * when it has one, said in the help too.
 */
export function durationOption(flag: string, description: string, defaultMs?: number, bounds: DurationBounds = {}): Option {
  const min = bounds.minMs ? `; at least ${formatDuration(bounds.minMs)}` : bounds.positive ? '; more than 0' : '';
  const opt = new Option(`${flag} <duration>`, `${description}${min}`).argParser(durationArg(flag, 's', bounds));
  return defaultMs === undefined ? opt : opt.default(defaultMs, formatDuration(defaultMs));
}

/**
 * Repeatable and comma-separated list option. A value with no entry at all is an error (commander
 * names the flag): `--compare ''` or `--endpoints "$LIST"` with LIST unset would otherwise act as
 * if the flag were not given.
 */
export function listArg(v: string, prev: string[] = []): string[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('An empty list (an unset variable?): give at least one entry, or leave the flag out.');
  return [...prev, ...items];
}

/** "1 endpoint", "3 endpoints": a count with its noun in the right number. */
export function countOf(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`;
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

/**
 * `--concurrency` sizes a closed loop; with open-loop arrivals (`--rate`, `--stages`, `--sweep`,
 * `--trace`) nothing reads it, so giving it there is an error rather than a silent no-op.
 * `opts`: the parsed flags; `source(key)`: commander's getOptionValueSource. Throws InvalidConfig.
 */
export function refuseConcurrencyWithOpenLoop(opts: Record<string, unknown>, source: (key: string) => string | undefined): void {
  if (source('concurrency') !== 'cli' && opts.concurrent === undefined) return;
  const open = (['rate', 'stages', 'sweep', 'trace'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (open.length === 0) return;
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `--concurrency sizes a closed loop; --${open[0]} sends open-loop arrivals, which it does not limit: drop --concurrency, or drop --${open[0]} for a closed loop`,
    { param: 'concurrency' },
  );
}

/**
 * Refuses flags that another given flag overrides, instead of ignoring them silently. `rules`:
 * [winner, losers] as commander attribute names (camelCase); `given(key)`: the user set it on the
 * command line. Throws InvalidConfig naming both flags.
 */
export function refuseOverridden(given: (key: string) => boolean, rules: readonly (readonly [string, readonly string[]])[]): void {
  const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  for (const [winner, losers] of rules) {
    if (!given(winner)) continue;
    const lost = losers.find(given);
    if (lost) throw new KvgateError(ErrorCode.InvalidConfig, `give ${flag(lost)} or ${flag(winner)}, not both: ${flag(winner)} decides what ${flag(lost)} would (it was ignored)`, { param: lost.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) });
  }
}
