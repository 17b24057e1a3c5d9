import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockTable } from '../../src/router/prefix/block-table.js';

test('behaves like a Map under random inserts, overwrites and deletes (with clustered keys and growth)', () => {
  // Keys from a small range collide on the low bits and build long probe runs that wrap around,
  // which is where backward-shift deletion can go wrong.
  const key = fc.oneof(fc.integer({ min: 0, max: 40 }).map((k) => k * 16), fc.integer({ min: 0, max: 2 ** 53 - 1 }));
  const action = fc.tuple(fc.constantFrom('set', 'set', 'delete'), key, fc.integer({ min: 0, max: 1_000_000 }));
  fc.assert(
    fc.property(fc.array(action, { maxLength: 400 }), (actions) => {
      const t = new BlockTable(16);
      const ref = new Map<number, number>();
      for (const [kind, k, v] of actions) {
        if (kind === 'set') {
          t.set(k, v);
          ref.set(k, v);
        } else {
          t.delete(k);
          ref.delete(k);
        }
        assert.equal(t.size, ref.size);
      }
      for (const [k, v] of ref) assert.equal(t.get(k), v);
      for (const [, k] of actions) if (!ref.has(k)) assert.equal(t.get(k), -1);
    }),
    { numRuns: 300 },
  );
});

test('an absent key reads −1 and deleting it changes nothing', () => {
  const t = new BlockTable();
  t.set(2 ** 40 + 5, 7);
  assert.equal(t.get(5), -1);
  t.delete(5);
  assert.equal(t.size, 1);
  assert.equal(t.get(2 ** 40 + 5), 7);
});
