// SlotSet against a Set model: any sequence of adds, deletes and visits that delete agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotSet } from '../../src/shared/slot-set.js';

type Item = { n: number; slot?: number };

test('SlotSet holds what a Set holds under any adds, deletes and deleting visits', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('add', 'delete', 'sweep', 'clear'), fc.nat(15)), { maxLength: 200 }), (ops) => {
      const items: Item[] = Array.from({ length: 16 }, (_, n) => ({ n }));
      const s = new SlotSet<Item>();
      const model = new Set<Item>();
      for (const [op, k] of ops) {
        const x = items[k];
        if (op === 'add') {
          s.add(x);
          model.add(x);
        } else if (op === 'delete') assert.equal(s.delete(x), model.delete(x));
        else if (op === 'clear') {
          s.clear();
          model.clear();
        } else {
          // A visit that deletes every item whose number is ≥ k, as a deadline sweep does.
          const seen: number[] = [];
          s.forEach((y) => {
            seen.push(y.n);
            if (y.n >= k) s.delete(y);
          });
          assert.deepEqual(seen.sort((a, b) => a - b), [...model].map((y) => y.n).sort((a, b) => a - b), 'each visited once');
          for (const y of [...model]) if (y.n >= k) model.delete(y);
        }
        assert.equal(s.size, model.size);
        for (const y of items) assert.equal(s.has(y), model.has(y));
      }
    }),
  );
});
