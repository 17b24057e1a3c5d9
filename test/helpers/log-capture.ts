import { pino, type Logger } from 'pino';

/** One parsed pino line (the fields tests read; the rest kept). */
export interface LogLine {
  level: number;
  msg: string;
  err?: string;
  [field: string]: unknown;
}

/** A pino logger whose lines land in `lines` (parsed), to assert on what an operator would read. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}
