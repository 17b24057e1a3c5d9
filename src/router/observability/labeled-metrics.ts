import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the per-request hot path, registered in a prom-client Registry.
 *
 * Why not prom-client's own: each of its observe/inc calls validates and hashes the label object
 * and allocates a closure; at one request per ~40 µs of gateway CPU, the six observations per
 * request were ~6 % of it (bench:gateway profile). Here a caller resolves a label set to a series
 * once (`series(...)`), keeps it, and an observation is a few array writes. The exposition goes
 * through prom-client's Registry, so the text format is prom-client's.
 */

/**
 * Distinct label sets a metric keeps, by default, before new ones fold into its overflow series.
 * Some label values come from clients (a model name, a trusted priority): unbounded, each new one
 * would add series to every scrape for the life of the process (3,000 unknown model names once
 * grew /metrics from 69 KB to 31 MB). 1,000 is far above a fleet's models × priorities, and keeps
 * the worst case of the largest family (a 38-line histogram) near 40,000 lines.
 */
export const DEFAULT_MAX_SERIES = 1000;

/** Every label of a metric's overflow series has this value. */
export const OVERFLOW_LABEL_VALUE = '__overflow__';

/**
 * The counter of folded label sets, one series per metric name: created with the first fold, or
 * at 0 for every labelled metric registered after `registerOverflowCounter` (what EppMetrics does,
 * so the family is on /metrics from the start, as Prometheus advises for known label values).
 */
export const OVERFLOW_METRIC = 'kvgate_metric_series_overflow_total';

export interface SeriesLimit {
  /** Distinct label sets before new ones fold into the overflow series. Default DEFAULT_MAX_SERIES. */
  maxSeries?: number;
  /** Called once per metric, at its first fold (EppMetrics logs it). */
  onOverflow?: (metric: string, maxSeries: number) => void;
}

interface Series {
  labels: Record<string, string>;
  /** Set on a metric's overflow series: callers that keep series by label values must not keep this one under new keys. */
  overflow?: true;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class LabeledMetric<S extends Series> {
  readonly aggregator = 'sum';
  private readonly children = new Map<string, S>();
  private readonly maxSeries: number;
  private overflow?: S;
  /** This metric's series of OVERFLOW_METRIC, once it has folded a label set. */
  private folds?: CounterSeries;

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    private readonly registry: Registry,
    private readonly limit: SeriesLimit = {},
  ) {
    this.maxSeries = limit.maxSeries ?? DEFAULT_MAX_SERIES;
    registry.registerMetric(this as never);
    // Only a metric with labels can fold; its OVERFLOW_METRIC series starts at 0 when the registry has that counter.
    if (labelNames.length > 0 && name !== OVERFLOW_METRIC) {
      const counter = registry.getSingleMetric(OVERFLOW_METRIC);
      if (counter instanceof LabeledCounter) this.folds = counter.series(name);
    }
  }

  /**
   * The series for these label values (in `labelNames` order); keep it to observe cheaply. Past
   * the metric's series limit a new label set gets the overflow series (labels all
   * OVERFLOW_LABEL_VALUE), and each such call counts once in OVERFLOW_METRIC.
   */
  series(...values: string[]): S {
    const key = values.join('\u0000');
    const known = this.children.get(key);
    if (known) return known;
    if (this.children.size >= this.maxSeries) return this.fold();
    const s = this.create(this.labelsOf(values));
    this.children.set(key, s);
    return s;
  }

  private labelsOf(values: readonly string[]): Record<string, string> {
    const labels: Record<string, string> = {};
    this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
    return labels;
  }

  private fold(): S {
    if (!this.overflow) {
      this.overflow = this.create(this.labelsOf(this.labelNames.map(() => OVERFLOW_LABEL_VALUE)));
      this.overflow.overflow = true;
      this.folds ??= registerOverflowCounter(this.registry).series(this.name);
      this.limit.onOverflow?.(this.name, this.maxSeries);
    }
    this.folds!.value++;
    return this.overflow;
  }

  protected abstract create(labels: Record<string, string>): S;
  protected abstract values(s: S): MetricValue[];
  abstract readonly type: 'counter' | 'histogram';

  /** Called by the Registry at scrape time. */
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const s of this.children.values()) values.push(...this.values(s));
    if (this.overflow) values.push(...this.values(this.overflow));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.children.clear();
    this.overflow = undefined;
  }
}

/**
 * OVERFLOW_METRIC in `registry`: the one already there, else a new one. Called before the
 * registry's labelled metrics are made, it gives each of them a series at 0.
 */
export function registerOverflowCounter(registry: Registry): LabeledCounter {
  const existing = registry.getSingleMetric(OVERFLOW_METRIC);
  if (existing instanceof LabeledCounter) return existing;
  return new LabeledCounter(OVERFLOW_METRIC, 'Observations whose label set got no series of its own because the metric had reached its series limit; they went to its overflow series (every label "__overflow__").', ['metric'], registry);
}

export interface CounterSeries extends Series {
  value: number;
}

export class LabeledCounter extends LabeledMetric<CounterSeries> {
  readonly type = 'counter';
  protected create(labels: Record<string, string>): CounterSeries {
    return { labels, value: 0 };
  }
  protected values(s: CounterSeries): MetricValue[] {
    return [{ labels: s.labels, value: s.value }];
  }
}

export interface HistogramSeries extends Series {
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
  bounds: readonly number[];
}

export class LabeledHistogram extends LabeledMetric<HistogramSeries> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[], registry: Registry, limit?: SeriesLimit) {
    super(name, help, labelNames, registry, limit);
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0, bounds: this.bounds };
  }

  protected values(s: HistogramSeries): MetricValue[] {
    // As prom-client does: a labelled series appears once observed; an unlabelled one always.
    if (s.count === 0 && this.labelNames.length > 0) return [];
    const out: MetricValue[] = [];
    let acc = 0;
    for (let i = 0; i <= s.bounds.length; i++) {
      acc += s.counts[i];
      out.push({ labels: { le: i < s.bounds.length ? s.bounds[i] : '+Inf', ...s.labels }, value: acc, metricName: `${this.name}_bucket` });
    }
    out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
    out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    return out;
  }
}

/** Records one observation (values above the last bound count in +Inf only, as Prometheus does). */
export function observe(s: HistogramSeries, v: number): void {
  if (!Number.isFinite(v)) return;
  const b = s.bounds;
  let i = 0;
  while (i < b.length && v > b[i]) i++;
  s.counts[i]++;
  s.sum += v;
  s.count++;
}
