import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { BenchRunner, type Stage } from '../../src/bench/runner.js';
import { buildWorkload } from '../../src/bench/workloads.js';
import { startSimServer } from '../../src/sim/server.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

/**
 * The runner used to add an abort listener to the caller's signal for every sleep and never
 * remove it, and every in-flight request added another: an open-loop run printed
 * MaxListenersExceededWarning and kept one closure per arrival alive until the run ended.
 */
test('a bench run leaves no abort listener on the caller\'s signal and warns about none', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  try {
    const ac = new AbortController();
    const reqs = buildWorkload({ workload: 'random', seed: 1, numRequests: 40, inputLen: 20, outputLen: 2 });
    // A closed loop wider than Node's default cap of 10 listeners, then an open-loop stage.
    const stages: Stage[] = [{}, { rate: 400, durationS: 0.1 }];
    const runner = new BenchRunner({ url: sim.url, model: MODEL, concurrency: 16, stages, timeoutMs: 30_000, seed: 1, signal: ac.signal });
    const samples = await runner.run(reqs);
    assert.ok(samples.length >= 40, `${samples.length} samples`);
    assert.ok(samples.every((s) => s.ok), 'every request succeeded');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    await new Promise((r) => setImmediate(r)); // process 'warning' events are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w.includes('MaxListeners')), []);
  } finally {
    process.off('warning', onWarning);
    await sim.close();
  }
});

test('aborting the caller\'s signal stops a run: the requests in flight end as cancelled', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 50 });
  try {
    const ac = new AbortController();
    const reqs = buildWorkload({ workload: 'random', seed: 1, numRequests: 4, inputLen: 20, outputLen: 1000 });
    const runner = new BenchRunner({ url: sim.url, model: MODEL, concurrency: 4, stages: [{}], timeoutMs: 30_000, seed: 1, signal: ac.signal, onSample: () => undefined });
    const run = runner.run(reqs);
    // Abort once the simulator is generating (a cause, not a delay).
    for (;;) {
      const text = await (await fetch(`${sim.url}/metrics`)).text();
      if (/vllm:num_requests_running\{[^}]*\} [1-9]/.test(text)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    ac.abort();
    const samples = await run;
    assert.ok(samples.length > 0 && samples.every((s) => !s.ok && s.error === 'cancelled'), JSON.stringify(samples.map((s) => s.error)));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  } finally {
    await sim.close();
  }
});
