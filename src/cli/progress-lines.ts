/** Three significant digits (2 decimals at most): 0.0412, 9.87, 123. */
export function threeDigits(x: number): string {
  return x >= 100 ? x.toFixed(0) : String(+x.toPrecision(3));
}

/** Seconds with a unit that keeps three digits, so a sub-second run does not read "0.0 s": 41.2 ms, 1.23 s, 12.3 s. */
export function seconds(s: number): string {
  return s < 1 ? `${threeDigits(s * 1000)} ms` : `${threeDigits(s)} s`;
}

/** The default period of progress lines, as `kvgate bench` prints its lines when stderr is not a terminal. */
export const PROGRESS_INTERVAL_MS = 5000;

/**
 * Progress lines of a long virtual-time run, for stderr: per run (a policy, or a policy at a fleet
 * size), "simulate: kvgate — 12.3 s simulated, 4.56 s wall", at most once per `intervalMs` of wall
 * time each, the first one `intervalMs` after the reporter started (a short run prints none).
 * `now` is the wall clock in ms (injectable for tests).
 */
export class ProgressLines {
  private readonly start: number;
  private readonly last = new Map<string, number>();

  constructor(private readonly o: { prefix: string; intervalMs: number; write: (line: string) => void; now?: () => number }) {
    this.start = this.now();
  }

  private now(): number {
    return this.o.now ? this.o.now() : performance.now();
  }

  /** Run `label` has reached `simulatedMs` of virtual time. */
  tick(label: string, simulatedMs: number): void {
    const t = this.now();
    if (t - (this.last.get(label) ?? this.start) < this.o.intervalMs) return;
    this.last.set(label, t);
    this.o.write(`${this.o.prefix}: ${label} — ${seconds(simulatedMs / 1000)} simulated, ${seconds((t - this.start) / 1000)} wall\n`);
  }

  /**
   * Whether a command prints progress: always with a human report, and with --json only when stdout
   * is a terminal — a piped --json run stays quiet on stderr apart from its errors and final line.
   */
  static wanted(json: boolean, stdoutIsTty: boolean | undefined): boolean {
    return !json || stdoutIsTty === true;
  }
}
