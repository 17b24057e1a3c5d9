import { pino, type Logger, type LoggerOptions } from 'pino';
import { KvgateError, ErrorCode } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * JSON logger for every long-running command. Prompts and completions are never logged:
 * callers pass ids, sizes and timings only. `level` defaults to $KVGATE_LOG_LEVEL, else info;
 * an unknown level in that variable is a KvgateError naming it (pino would throw its own).
 */
export function createLogger(name: string, opts: { level?: string; stderr?: boolean } = {}): Logger {
  const options: LoggerOptions = {
    name,
    level: opts.level ?? logLevelFromEnv(),
    base: { component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // `kvgate up` keeps stdout for its table (or, with --json, exactly one JSON line).
  return opts.stderr ? pino(options, pino.destination(2)) : pino(options);
}

/** $KVGATE_LOG_LEVEL, else info. Throws a KvgateError naming the variable when it is not a level. */
export function logLevelFromEnv(): string {
  const env = process.env.KVGATE_LOG_LEVEL;
  if (!env) return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(env)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `KVGATE_LOG_LEVEL=${env} is not a log level (${LOG_LEVELS.join(', ')})`, { param: 'KVGATE_LOG_LEVEL' });
  }
  return env;
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export type { Logger };
