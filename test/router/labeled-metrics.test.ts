import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { DEFAULT_MAX_SERIES, LabeledCounter, LabeledHistogram, observe, registerOverflowCounter } from '../../src/router/observability/labeled-metrics.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

const BOUNDS = [0.5, 1, 8, 100];

test('histograms and counters expose exactly what prom-client exposes for the same observations', async () => {
  const label = fc.constantFrom('a', 'b', 'we"ird\\name');
  const obs = fc.tuple(label, fc.oneof(fc.double({ min: -10, max: 1000, noNaN: true }), fc.constantFrom(0.5, 1, 8, 100)));
  await fc.assert(
    fc.asyncProperty(fc.array(obs, { maxLength: 40 }), async (observations) => {
      const ours = new Registry();
      const theirs = new Registry();
      const h = new LabeledHistogram('h_seconds', 'help h', ['model_name'], BOUNDS, ours);
      const c = new LabeledCounter('c_total', 'help c', ['model_name'], ours);
      const bare = new LabeledHistogram('bare', 'help bare', [], BOUNDS, ours).series();
      const ph = new Histogram({ name: 'h_seconds', help: 'help h', labelNames: ['model_name'], buckets: BOUNDS, registers: [theirs] });
      const pc = new Counter({ name: 'c_total', help: 'help c', labelNames: ['model_name'], registers: [theirs] });
      const pbare = new Histogram({ name: 'bare', help: 'help bare', buckets: BOUNDS, registers: [theirs] });
      for (const [m, v] of observations) {
        observe(h.series(m), v);
        c.series(m).value++;
        observe(bare, v);
        ph.observe({ model_name: m }, v);
        pc.inc({ model_name: m });
        pbare.observe(v);
      }
      assert.equal(await ours.metrics(), await theirs.metrics());
    }),
    { numRuns: 200 },
  );
});

test('past its series limit a metric folds new label sets into one overflow series, counts them, and says so once', async () => {
  const r = new Registry();
  const warned: [string, number][] = [];
  const limit = { maxSeries: 3, onOverflow: (metric: string, max: number) => warned.push([metric, max]) };
  const c = new LabeledCounter('c_total', 'help c', ['model_name', 'priority'], r, limit);
  const h = new LabeledHistogram('h_seconds', 'help h', ['model_name'], BOUNDS, r, limit);
  for (let i = 0; i < 50; i++) {
    c.series(`m${i}`, '0').value++;
    observe(h.series(`m${i}`), 1);
  }
  c.series('m0', '0').value++; // a label set from before the limit keeps its own series
  const { samples } = parsePromText(await r.metrics());
  const models = (name: string) => [...new Set(samples.filter((x) => x.name === name).map((x) => x.labels.model_name))];
  assert.deepEqual(models('c_total'), ['m0', 'm1', 'm2', '__overflow__']);
  assert.deepEqual(models('h_seconds_count'), ['m0', 'm1', 'm2', '__overflow__']);
  assert.equal(sampleValue(samples, 'c_total', { model_name: 'm0' }), 2);
  assert.equal(sampleValue(samples, 'c_total', { model_name: '__overflow__', priority: '__overflow__' }), 47, 'nothing is lost: 47 observations went to the overflow series');
  assert.equal(sampleValue(samples, 'h_seconds_count', { model_name: '__overflow__' }), 47);
  assert.equal(sampleValue(samples, 'kvgate_metric_series_overflow_total', { metric: 'c_total' }), 47);
  assert.equal(sampleValue(samples, 'kvgate_metric_series_overflow_total', { metric: 'h_seconds' }), 47);
  assert.deepEqual(warned, [['c_total', 3], ['h_seconds', 3]], 'one warning per metric');
  assert.ok(c.series('new', '1').overflow, 'the overflow series says so');
  assert.equal(c.series('m1', '0').overflow, undefined);
});

test('registerOverflowCounter first: each labelled metric made after it has its overflow count at 0; a fold adds to it', async () => {
  const r = new Registry();
  registerOverflowCounter(r);
  const c = new LabeledCounter('c_total', 'help c', ['model_name'], r, { maxSeries: 1 });
  new LabeledHistogram('h_seconds', 'help h', ['model_name'], BOUNDS, r);
  new LabeledHistogram('bare', 'help bare', [], BOUNDS, r).series(); // no labels: it cannot fold
  let { samples } = parsePromText(await r.metrics());
  assert.deepEqual(
    samples.filter((x) => x.name === 'kvgate_metric_series_overflow_total').map((x) => [x.labels.metric, x.value]),
    [['c_total', 0], ['h_seconds', 0]],
  );
  c.series('a').value++;
  c.series('b').value++;
  ({ samples } = parsePromText(await r.metrics()));
  assert.equal(sampleValue(samples, 'kvgate_metric_series_overflow_total', { metric: 'c_total' }), 1);
  assert.equal(registerOverflowCounter(r), r.getSingleMetric('kvgate_metric_series_overflow_total'), 'one counter per registry');
});

test('the default series limit applies without options', () => {
  const c = new LabeledCounter('c_total', 'help c', ['model_name'], new Registry());
  for (let i = 0; i < DEFAULT_MAX_SERIES; i++) assert.equal(c.series(`m${i}`).overflow, undefined);
  assert.equal(c.series('one more').overflow, true);
});
