/** Milliseconds per unit of Go's time.ParseDuration. */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * A duration in Go's time.ParseDuration syntax ("200ms", "2s", "1m30s", "0.5h", "750us", "0"), in
 * milliseconds; undefined when `text` is not one. Negative durations are refused. As EPP configs
 * (GIE, llm-d) and llm-d-inference-sim's flags carry them.
 */
export function parseGoDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  let ms = 0;
  let at = 0;
  while (at < t.length) {
    PART.lastIndex = at;
    const m = PART.exec(t);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]];
    at = PART.lastIndex;
  }
  return at > 0 ? ms : undefined;
}
