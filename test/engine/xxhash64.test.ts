import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xxh64 as nativeXxh64 } from '@node-rs/xxhash';
import fc from 'fast-check';
import { xxh64 } from '../../src/engine/hashing/xxhash64.js';

test('matches the reference implementation on known lengths around every branch', () => {
  for (const len of [0, 1, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 100, 1000]) {
    const bytes = new Uint8Array(len).map((_, i) => (i * 31 + 7) & 0xff);
    for (const seed of [0n, 1n, 0xdeadbeefn, 0xffffffffffffffffn, 0x9e3779b185ebca87n]) {
      assert.equal(xxh64(bytes, seed), nativeXxh64(Buffer.from(bytes), seed), `len=${len} seed=${seed}`);
    }
  }
});

test('matches the reference implementation on random inputs and seeds', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (bytes, seed) => {
      assert.equal(xxh64(bytes, seed), nativeXxh64(Buffer.from(bytes), seed));
    }),
    { numRuns: 500 },
  );
});
