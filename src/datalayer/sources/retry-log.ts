import type { Logger } from '../../shared/logger.js';

/** How often a failure that keeps repeating is warned about again. */
export const REPEAT_WARN_MS = 10 * 60_000;

/**
 * What a Kubernetes request retried with backoff writes to the log, so that a lasting failure (a
 * missing Role, an absent CRD, an unreachable API server) is one warning, not one line per retry:
 * - the first failure, and any failure whose message differs from the last one, is a warning;
 * - the same failure again is logged at debug (with the retry delay), and warned again at most
 *   every `repeatMs` (default 10 min) with the number of failed attempts so far;
 * - the first success after failures is one info line saying how many attempts had failed.
 * `what` names the request for the log lines ("list pods app=qwen in ns").
 */
export class RetryLog {
  private message?: string;
  private failures = 0;
  private warnedAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    private readonly repeatMs = REPEAT_WARN_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** One failed attempt; `message` is the sentence for operators, `retryMs` the delay before the next one. */
  failed(message: string, retryMs: number): void {
    this.failures++;
    const fields = { what: this.what, err: message, retryMs, failures: this.failures };
    if (message !== this.message || this.now() - this.warnedAt >= this.repeatMs) {
      const repeat = message === this.message;
      this.message = message;
      this.warnedAt = this.now();
      this.logger.warn(fields, repeat ? 'kubernetes: request still failing; retrying with backoff' : 'kubernetes: request failed; retrying with backoff (repeats are logged at debug)');
    } else this.logger.debug(fields, 'kubernetes: request failed again; retrying');
  }

  /** A successful attempt: says so once if attempts had failed, and forgets them. */
  succeeded(): void {
    if (this.failures === 0) return;
    this.logger.info({ what: this.what, failedAttempts: this.failures }, 'kubernetes: request succeeded again');
    this.failures = 0;
    this.message = undefined;
    this.warnedAt = 0;
  }
}
