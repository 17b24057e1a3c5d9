import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * A histogram whose labels never change (a simulator reports one model on one engine), kept as
 * plain numbers: observe() is a bucket search and three additions, with none of prom-client's
 * per-observation label validation and hashing. Exported through prom-client's registry like any
 * metric (same text format).
 */
export class FixedHistogram {
  readonly type = 'histogram';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labels: Labels,
    private readonly bounds: number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(bounds.length);
    registry.registerMetric(this as never);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  get() {
    const values: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i];
      values.push({ metricName: `${this.name}_bucket`, labels: { ...this.labels, le: String(this.bounds[i]) }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { ...this.labels, le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: this.labels, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: this.labels, value: this.count });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

/** A counter over fixed labels plus one varying label (e.g. finished_reason), with pre-created values. */
export class FixedCounterFamily {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labels: Labels,
    private readonly key: string,
    initial: readonly string[],
    registry: Registry,
  ) {
    for (const k of initial) this.values.set(k, 0);
    registry.registerMetric(this as never);
  }

  inc(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get() {
    const values: Sample[] = [...this.values].map(([k, v]) => ({ labels: { ...this.labels, [this.key]: k }, value: v }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}
