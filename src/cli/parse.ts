import { InvalidArgumentError } from 'commander';

/** commander argument parsers that name the bad value. */
export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min} (got "${v}")`);
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

/** "1500", "1500ms", "2s", "1m" → milliseconds. */
export function durationArg(name: string) {
  return (v: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
    if (!m) throw new InvalidArgumentError(`${name} must be a duration like 500ms, 2s or 1m (got "${v}")`);
    const n = Number(m[1]);
    return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
  };
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
