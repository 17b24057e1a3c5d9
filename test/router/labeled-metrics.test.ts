import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { LabeledCounter, LabeledHistogram, observe } from '../../src/router/observability/labeled-metrics.js';

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
