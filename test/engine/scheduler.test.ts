import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';
import { createEngine, loadProfile, VirtualClock } from '../../src/engine/index.js';

test('a full KV cache preempts by recompute instead of failing', () => {
  // 10 blocks of 4 tokens = 40 token slots; three requests that each grow to 20 tokens cannot all fit.
  const { clock, submit, engine } = virtualEngine({ blockSize: 4, kvCacheSize: 10 });
  const rs = [0, 1, 2].map((i) => submit(seqTokens(8, i * 100), 12));
  clock.runUntilIdle();
  for (const r of rs) {
    assert.equal(r.outcome!.finishReason, 'length');
    assert.equal(r.outcome!.completionTokens, 12);
  }
  const s = engine.stats();
  assert.ok(s.preemptions > 0, 'some request was preempted');
  assert.equal(s.preemptions, rs.reduce((a, r) => a + r.outcome!.preemptions, 0));
  assert.equal(s.running, 0);
  assert.equal(s.kvCacheUsage, 0);
});

test('a request larger than the whole cache is rejected at submit', () => {
  const { submit } = virtualEngine({ blockSize: 4, kvCacheSize: 4 });
  assert.throws(() => submit(seqTokens(20), 1), /KV cache/);
});

test('chunked prefill never exceeds the per-step token budget', () => {
  const clock = new VirtualClock();
  const profile = loadProfile('qwen2.5-3b-tpu-v6e');
  const engine = createEngine({ profile, clock, maxNumBatchedTokens: 512 });
  let first = 0;
  engine.submit(
    { id: 'long', promptTokenIds: seqTokens(2000), maxTokens: 2, ignoreEos: true },
    { onToken: (_id, i, now) => { if (i === 0) first = now; }, onFinish: () => {} },
  );
  clock.runUntilIdle();
  assert.ok(engine.steps >= Math.ceil(2000 / 512) + 1, `prefill spans ${engine.steps} steps`);
  // 4 steps of prefill at base + 512·t (the last 464) then decode
  const expected = 4 * profile.latency.stepBaseMs + 2000 * profile.latency.prefillMsPerToken;
  assert.ok(Math.abs(first - expected) < 1e-6, `TTFT ${first} = ${expected}`);
});

test('running requests are scheduled before waiting ones, FCFS, bounded by max_num_seqs', () => {
  const { clock, submit, engine } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxNumSeqs: 2 });
  const a = submit(seqTokens(32, 0), 5);
  const b = submit(seqTokens(32, 100), 5);
  const c = submit(seqTokens(32, 200), 5);
  clock.run(1);
  assert.equal(engine.stats().running, 2);
  assert.equal(engine.stats().waiting, 1);
  clock.runUntilIdle();
  // c starts only after a or b finished
  assert.ok(c.outcome!.timings.scheduledMs! >= Math.min(a.outcome!.timings.finishedMs!, b.outcome!.timings.finishedMs!));
  assert.ok(a.outcome!.timings.finishedMs! <= c.outcome!.timings.firstTokenMs!);
});

test('abort releases a running request\'s blocks and finishes it with reason abort', () => {
  const { clock, submit, engine } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e' });
  const r = submit(seqTokens(64), 100);
  clock.run(30);
  assert.equal(engine.stats().running, 1);
  engine.abort('r0');
  assert.equal(r.outcome!.finishReason, 'abort');
  assert.equal(engine.stats().running, 0);
  assert.equal(engine.stats().kvCacheUsage, 0);
  clock.runUntilIdle();
});

test('the same seed gives identical tokens, timings and events', () => {
  const run = () => {
    const { clock, submit, events } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', seed: 42, kvCacheSize: 64, blockSize: 16 });
    const rs = Array.from({ length: 12 }, (_, i) => submit(seqTokens(50 + i * 7, (i % 3) * 10), 20));
    clock.runUntilIdle();
    return JSON.stringify({ rs, events }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  };
  assert.equal(run(), run());
});

test('virtual time runs much faster than real time', () => {
  const { clock, submit } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e' });
  const t0 = performance.now();
  let done = 0;
  // 600 requests arriving over 60 virtual seconds
  for (let i = 0; i < 600; i++) {
    clock.setTimer(() => {
      const r = submit(seqTokens(200, (i % 20) * 1000), 30);
      void r;
      done++;
    }, i * 100);
  }
  clock.runUntilIdle();
  const wall = performance.now() - t0;
  assert.equal(done, 600);
  assert.ok(clock.now() >= 60_000, `virtual ${clock.now()} ms`);
  assert.ok(wall < clock.now() / 10, `wall ${wall.toFixed(0)} ms for ${clock.now().toFixed(0)} virtual ms`);
});
