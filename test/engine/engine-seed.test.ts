// The engine seed reaches its RNG states whole: the latency noise and the token streams of
// requests without a seed of their own were seeded from `>>> 0` of it (and a float product).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';

/** Inter-token gaps (ms) of one request on an engine with latency noise, and its tokens. */
function run(seed: number) {
  const v = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', seed });
  v.engine.setLatency({ decodeStdDevMs: 2, prefillStdDevMs: 3 });
  const r = v.submit(seqTokens(64), 20);
  v.clock.runUntilIdle();
  return { gaps: r.tokenTimes.slice(1).map((t, i) => t - r.tokenTimes[i]), tokens: r.tokens };
}

test('engine seeds 1 and 1 + 2^32 give different latency noise; one seed gives the same', () => {
  const a = run(1);
  assert.deepEqual(run(1), a, 'same seed, same run');
  const b = run(1 + 2 ** 32);
  assert.notDeepEqual(b.gaps, a.gaps, 'the high word seeds the noise');
  assert.notDeepEqual(b.tokens, a.tokens, 'and the token stream');
});

test('requests without a seed draw different token streams at a large engine seed', () => {
  // The state was (seed × 0x9e3779b1 + ordinal) >>> 0 in floating point: past seed 3,393,263 the
  // product rounds to a multiple of 2 or more, and at 100,000,000 requests 1 to 4 shared a stream.
  for (const seed of [1, 100_000_000, 2 ** 32 - 1, 2 ** 53 - 1]) {
    const v = virtualEngine({ seed });
    const rs = [0, 1, 2, 3].map(() => v.submit(seqTokens(8), 6));
    v.clock.runUntilIdle();
    const streams = new Set(rs.map((r) => r.tokens.join(',')));
    assert.equal(streams.size, 4, `seed ${seed}: ${[...streams].join(' | ')}`);
  }
});
