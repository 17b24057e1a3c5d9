import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xxh64 as nativeXxh64 } from '@node-rs/xxhash';
import fc from 'fast-check';
import { xxh64 } from '../../src/shared/hashing/xxhash64.js';
import { Xxh64Chain } from '../../src/shared/hashing/xxhash64-chain.js';

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

/** Reference chain: block i hashed with block i−1's hash as seed, by the native implementation. */
function referenceChain(bytes: Uint8Array, count: number, len: number, seed: bigint): bigint[] {
  const res: bigint[] = [];
  for (let i = 0; i < count; i++) {
    seed = nativeXxh64(Buffer.from(bytes.subarray(i * len, (i + 1) * len)), seed);
    res.push(seed);
  }
  return res;
}

function wasmChain(h: Xxh64Chain, bytes: Uint8Array, count: number, len: number, seed: bigint): bigint[] {
  h.input(bytes.length).set(bytes);
  const { words, offset } = h.run(count, len, Number(seed >> 32n), Number(seed & 0xffffffffn));
  return Array.from({ length: count }, (_, i) => (BigInt(words[offset + 2 * i + 1]) << 32n) | BigInt(words[offset + 2 * i]));
}

test('the WebAssembly chain equals chained reference hashes for every block length branch', () => {
  const h = new Xxh64Chain();
  for (const len of [0, 1, 3, 4, 5, 8, 12, 13, 31, 32, 33, 40, 63, 64, 65, 100]) {
    const count = 7;
    const bytes = new Uint8Array(len * count).map((_, i) => (i * 131 + 17) & 0xff);
    for (const seed of [0n, 1n, 0xffffffffffffffffn, 0x9e3779b185ebca87n]) {
      assert.deepEqual(wasmChain(h, bytes, count, len, seed), referenceChain(bytes, count, len, seed), `len=${len} seed=${seed}`);
    }
  }
});

test('the WebAssembly chain equals the reference on random inputs, and grows its memory for large ones', () => {
  const h = new Xxh64Chain();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 80 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (bytes, len, seed) => {
      const count = Math.floor(bytes.length / len);
      assert.deepEqual(wasmChain(h, bytes, count, len, seed), referenceChain(bytes, count, len, seed));
    }),
    { numRuns: 500 },
  );
  const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff); // past the first 64 KiB page
  assert.deepEqual(wasmChain(h, big, 4_000, 64, 5n).slice(-3), referenceChain(big, 4_000, 64, 5n).slice(-3));
});
