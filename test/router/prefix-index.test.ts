import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApproxPrefixIndex } from '../../src/router/index.js';
import { routerWith, req } from './helpers.js';

const shared = 'You are a careful assistant. Answer briefly and cite sources. '.repeat(20); // ~1,260 chars

test('after routing request A to pod X, request B sharing a prefix matches X only', () => {
  const r = routerWith([{}, {}, {}], undefined);
  const a = r.pick(req({ prefixText: `${shared} Question A`, promptTokens: 330 }), 10_000);
  const x = a.endpoints[0].id;
  const b = r.pick(req({ prefixText: `${shared} Question B is different`, promptTokens: 330 }), 10_000);
  assert.equal(b.endpoints[0].id, x, 'routed to the endpoint holding the prefix');
  assert.ok(b.prefixMatch!.matchedBlocks >= 19);
  const others = b.scores.filter((s) => s.endpointId !== x);
  assert.ok(others.every((s) => s.byPlugin['prefix-cache-scorer'] === 0));
});

test('a different model never matches', () => {
  const idx = new ApproxPrefixIndex();
  idx.add('a', idx.hash('model-1', undefined, shared));
  assert.equal(idx.match(idx.hash('model-2', undefined, shared)).size, 0);
  assert.equal(idx.match(idx.hash('model-1', 'salt', shared)).size, 0, 'cache_salt partitions too');
  assert.equal(idx.match(idx.hash('model-1', undefined, shared)).get('a'), Math.floor(shared.length / 64));
});

test('less than one block scores 0', () => {
  const idx = new ApproxPrefixIndex();
  const h = idx.hash('m', undefined, 'short prompt');
  assert.equal(h.count, 0);
  idx.add('a', h);
  assert.equal(idx.match(idx.hash('m', undefined, 'short prompt')).size, 0);
});

test('LRU capacity is respected: evicted blocks stop matching, recent ones keep matching', () => {
  const idx = new ApproxPrefixIndex({ defaultCapacity: 10 });
  const text1 = 'a'.repeat(64 * 8);
  const text2 = 'b'.repeat(64 * 8);
  idx.add('ep', idx.hash('m', undefined, text1));
  idx.add('ep', idx.hash('m', undefined, text2)); // 16 blocks into a 10-block LRU
  assert.equal(idx.entries, 10);
  assert.equal(idx.match(idx.hash('m', undefined, text2)).get('ep'), 8);
  assert.equal(idx.match(idx.hash('m', undefined, text1)).get('ep'), undefined, 'text1 head was evicted');
  idx.setCapacity('ep', 4);
  assert.equal(idx.entries, 4);
});

test('matches count consecutive blocks from the start; several endpoints may hold one block', () => {
  const idx = new ApproxPrefixIndex();
  const long = 'x'.repeat(64 * 6);
  idx.add('a', idx.hash('m', undefined, long));
  idx.add('b', idx.hash('m', undefined, long.slice(0, 64 * 3)));
  const m = idx.match(idx.hash('m', undefined, long));
  assert.equal(m.get('a'), 6);
  assert.equal(m.get('b'), 3);
  idx.removeEndpoint('a');
  assert.deepEqual([...idx.match(idx.hash('m', undefined, long))], [['b', 3]]);
});

test('at most maxPrefixBlocksToMatch blocks are hashed', () => {
  const idx = new ApproxPrefixIndex({ maxBlocks: 256 });
  assert.equal(idx.hash('m', undefined, 'z'.repeat(32_000)).count, 256);
});

test('remove takes back only the given blocks on the given endpoint; freed nodes are reused', () => {
  const idx = new ApproxPrefixIndex({ defaultCapacity: 1_000 });
  const base = idx.hash('m', undefined, shared);
  const baseBlocks = base.count;
  idx.add('a', base);
  idx.add('b', base);
  const longer = idx.hash('m', undefined, `${shared}${'a refused continuation '.repeat(40)}`);
  const keys = longer.keys.slice(0, longer.count); // hashes are scratch
  idx.add('a', longer);
  assert.equal(idx.match(idx.hash('m', undefined, `${shared}${'a refused continuation '.repeat(40)}`)).get('a'), keys.length);
  idx.remove('a', keys.subarray(baseBlocks)); // the blocks the longer prompt added
  const m = idx.match(idx.hash('m', undefined, `${shared}${'a refused continuation '.repeat(40)}`));
  assert.equal(m.get('a'), baseBlocks, "a keeps the prefix it held before");
  assert.equal(m.get('b'), baseBlocks, 'b is untouched');
  assert.equal(idx.entries, 2 * baseBlocks);
  idx.remove('a', keys.subarray(baseBlocks)); // again: nothing left to remove
  idx.remove('nobody', keys);
  assert.equal(idx.entries, 2 * baseBlocks);
  idx.remove('b', keys.subarray(0, baseBlocks));
  assert.equal(idx.match(idx.hash('m', undefined, shared)).get('b'), undefined);
  assert.equal(idx.match(idx.hash('m', undefined, shared)).get('a'), baseBlocks, 'a shares those keys and keeps them');
  idx.add('b', idx.hash('m', undefined, shared)); // reuses the freed nodes
  assert.equal(idx.entries, 2 * baseBlocks);
  assert.equal(idx.match(idx.hash('m', undefined, shared)).get('b'), baseBlocks);
});
