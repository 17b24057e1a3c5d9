import { parseGoDurationMs as parseGoDuration } from '../shared/go-duration.js';

/**
 * Durations as llm-d-inference-sim takes them: Go's time.ParseDuration syntax ("250ms", "1.5s",
 * "750us", "1m30s", "2h"), plus a bare number meaning milliseconds (its deprecated integer form,
 * and kvgate's own flags' form since the first release). Milliseconds, or null when `text` is
 * not a duration; negative durations are refused (no simulator latency is negative).
 */
export function parseGoDurationMs(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  return parseGoDuration(t) ?? null;
}

/** Renders milliseconds the way Go prints a time.Duration ("1.5s", "250ms", "0s"), for /admin/config. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const round = (x: number) => String(Number(x.toFixed(6)));
  if (ms < 1e-3) return `${round(ms * 1e6)}ns`;
  if (ms < 1) return `${round(ms * 1e3)}µs`;
  if (ms < 1000) return `${round(ms)}ms`;
  let rest = ms / 1000;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${round(rest)}s`;
}
