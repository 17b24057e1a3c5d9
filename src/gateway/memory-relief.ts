import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const SETTLE_MS = 1000;

type GcFunction = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/**
 * Gives the memory of large request bodies back to the system soon after they are dropped.
 *
 * Why: a request body is a Buffer whose bytes live outside V8's heap; V8 frees them only when a
 * major garbage collection finds the Buffer dead, and it starts one for external memory only when
 * that memory grows. After a burst of large bodies (say 40 slow uploads of 15 MB each) the dead
 * bodies can hold hundreds of MB of RSS for minutes while light traffic keeps the heap from
 * looking idle. So once `thresholdBytes` of large bodies (≥ 1 MiB each) were released, a second
 * later and at most once per `minIntervalMs`, this asks V8 for one asynchronous major collection. Without access to
 * V8's gc (the flag cannot be set), it does nothing.
 */
export class MemoryRelief {
  private pending = 0;
  private lastMs = -Infinity;
  private timer?: NodeJS.Timeout;
  private readonly gc?: GcFunction;

  constructor(
    private readonly thresholdBytes = 64 * 1024 * 1024,
    private readonly minIntervalMs = 10_000,
  ) {
    try {
      setFlagsFromString('--expose-gc');
      this.gc = runInNewContext('gc') as GcFunction;
    } catch {
      this.gc = undefined;
    }
  }

  /** `bytes` of one request body were released. */
  released(bytes: number): void {
    if (!this.gc || bytes < 1024 * 1024) return;
    this.pending += bytes;
    if (this.pending < this.thresholdBytes || this.timer) return;
    // A burst of releases (many slow bodies timing out together) is collected by one collection.
    const wait = Math.max(SETTLE_MS, this.lastMs + this.minIntervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pending = 0;
      this.lastMs = performance.now();
      this.gc!({ type: 'major', execution: 'async' });
    }, wait);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
