import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';
import { loadFactor } from '../../src/engine/profiles.js';
import { gaussianClamped } from '../../src/engine/jitter.js';
import { createRng } from '../../src/shared/rng.js';

// llm-d-inference-sim docs/latency-simulation.md: f(n) = 1 + (factor − 1)·(n − 1)/(max-num-seqs − 1).
test('the load factor grows linearly from 1 (one request) to the factor (max_num_seqs)', () => {
  assert.equal(loadFactor(2, 1, 5), 1);
  assert.equal(loadFactor(2, 3, 5), 1.5);
  assert.equal(loadFactor(2, 5, 5), 2);
  assert.equal(loadFactor(3, 9, 5), 3, 'capped at max_num_seqs');
  assert.equal(loadFactor(2, 4, 1), 1, 'forced to 1 when max-num-seqs <= 1');
});

// Same doc: a std-dev draw never leaves ±70 % of the mean.
test('jittered durations stay within ±70 % of the mean and vary', () => {
  const rng = createRng(7);
  const xs = Array.from({ length: 2000 }, () => gaussianClamped(rng, 100, 30));
  assert.ok(xs.every((x) => x >= 30 && x <= 170));
  assert.ok(new Set(xs.map((x) => Math.round(x))).size > 50);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 100) < 5, `mean ${mean}`);
});

test('time-factor-under-load slows steps when many requests run; one request is unaffected', () => {
  const solo = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxNumSeqs: 4 });
  solo.engine.setLatency({ timeFactorUnderLoad: 2 });
  const one = solo.submit(seqTokens(16), 10);
  solo.clock.runUntilIdle();
  const plain = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxNumSeqs: 4 });
  const ref = plain.submit(seqTokens(16), 10);
  plain.clock.runUntilIdle();
  assert.equal(one.outcome!.timings.finishedMs, ref.outcome!.timings.finishedMs);

  const busy = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxNumSeqs: 4 });
  busy.engine.setLatency({ timeFactorUnderLoad: 2 });
  const rs = [0, 1, 2, 3].map((i) => busy.submit(seqTokens(16, i * 50), 10));
  busy.clock.runUntilIdle();
  const calm = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxNumSeqs: 4 });
  const cs = [0, 1, 2, 3].map((i) => calm.submit(seqTokens(16, i * 50), 10));
  calm.clock.runUntilIdle();
  const ratio = rs[0].outcome!.timings.finishedMs! / cs[0].outcome!.timings.finishedMs!;
  assert.ok(Math.abs(ratio - 2) < 1e-9, `four running of four: twice as slow (ratio ${ratio})`);
});

test('std-devs make step times vary, reproducibly for a seed', () => {
  const run = (seed: number) => {
    const v = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', seed });
    v.engine.setLatency({ decodeStdDevMs: 2, prefillStdDevMs: 3 });
    const r = v.submit(seqTokens(64), 30);
    v.clock.runUntilIdle();
    return r.tokenTimes.slice(1).map((t, i) => t - r.tokenTimes[i]);
  };
  const gaps = run(1);
  assert.ok(new Set(gaps.map((g) => g.toFixed(6))).size > 5, 'inter-token gaps differ');
  assert.deepEqual(run(1), gaps, 'same seed, same timings');
  assert.notDeepEqual(run(2), gaps);
});
