import type { Logger } from '../../shared/logger.js';

/**
 * Warnings rate-limited per kind: the first occurrence of a kind is logged at once, later ones at
 * most once per `intervalMs`, carrying how many were suppressed since. A flooding publisher or a
 * stream of malformed frames thus costs one log line per kind and interval, not one per message.
 */
export class LogOncePerKind {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const t = this.now();
    const seen = this.last.get(kind);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.last.set(kind, { at: t, suppressed: 0 });
    this.logger.warn({ kind, ...fields, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, message);
  }
}
