/** What a deployment costs, from its hourly price and measured throughput. */
export interface CostInput {
  name: string;
  hourly: number;
  hoursPerMonth: number;
  /** Sustained requests per second (measured). */
  throughputRps?: number;
  /** Mean output tokens per request (for $/1M output tokens). */
  outputTokensPerRequest?: number;
}

export interface CostFigures {
  name: string;
  hourly: number;
  monthly: number;
  perMillionRequests?: number;
  perMillionOutputTokens?: number;
  throughputRps?: number;
}

/**
 * $/month = $/h × hours; $/1M requests = $/h ÷ (req/s × 3600) × 10⁶;
 * $/1M output tokens = $/h ÷ (req/s × tokens/request × 3600) × 10⁶.
 */
export function computeCost(c: CostInput): CostFigures {
  const out: CostFigures = { name: c.name, hourly: c.hourly, monthly: c.hourly * c.hoursPerMonth, throughputRps: c.throughputRps };
  if (c.throughputRps && c.throughputRps > 0) {
    out.perMillionRequests = (c.hourly / (c.throughputRps * 3600)) * 1e6;
    if (c.outputTokensPerRequest && c.outputTokensPerRequest > 0) {
      out.perMillionOutputTokens = (c.hourly / (c.throughputRps * c.outputTokensPerRequest * 3600)) * 1e6;
    }
  }
  return out;
}

/** Rounds to cents the way a bill does (half away from zero). */
export function cents(v: number): number {
  return Math.round((v + Number.EPSILON) * 100) / 100;
}

export function formatUsd(v: number | undefined): string {
  if (v === undefined) return '—';
  return `$${cents(v).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
