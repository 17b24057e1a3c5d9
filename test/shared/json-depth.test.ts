import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertJsonDepth, MAX_JSON_DEPTH } from '../../src/shared/json-depth.js';
import { KvgateError } from '../../src/shared/errors.js';

const depthOf = (v: unknown): number => (v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v as object).map(depthOf)) : 0);

test('nesting past the limit is a 400 before parsing; brackets inside strings do not count', () => {
  const deep = (n: number) => Buffer.from(`{"a":${'['.repeat(n)}${']'.repeat(n)}}`);
  assert.doesNotThrow(() => assertJsonDepth(deep(MAX_JSON_DEPTH - 1)));
  assert.throws(() => assertJsonDepth(deep(MAX_JSON_DEPTH)), (e: unknown) => e instanceof KvgateError && e.status === 400);
  assert.throws(() => assertJsonDepth(deep(100_000)), (e: unknown) => e instanceof KvgateError && e.status === 400);
  assert.doesNotThrow(() => assertJsonDepth(Buffer.from(JSON.stringify({ p: '['.repeat(10_000), q: 'a\\"[[[', r: '\\\\' }))));
});

test('on any JSON value the scan agrees with the real depth', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (v, limit) => {
      const deep = depthOf(v) > limit;
      let threw = false;
      try {
        assertJsonDepth(Buffer.from(JSON.stringify(v)), limit);
      } catch {
        threw = true;
      }
      assert.equal(threw, deep);
    }),
    { seed: Number(process.env.FUZZ_SEED ?? 7), numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
  );
});
