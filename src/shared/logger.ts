import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * JSON logger for every long-running command. Prompts and completions are never logged:
 * callers pass ids, sizes and timings only.
 */
export function createLogger(name: string, opts: { level?: string; stderr?: boolean } = {}): Logger {
  const options: LoggerOptions = {
    name,
    level: opts.level ?? process.env.KVGATE_LOG_LEVEL ?? 'info',
    base: { component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // `kvgate up` keeps stdout for its table (or, with --json, exactly one JSON line).
  return opts.stderr ? pino(options, pino.destination(2)) : pino(options);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export type { Logger };
