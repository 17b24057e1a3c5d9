import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExactPrefixIndex, type ExactIndexEvent, type ExactIndexStoredEvent } from '../../src/router/prefix/exact-prefix-index.js';

const M = 'Qwen/Qwen2.5-3B-Instruct';
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

function stored(hashes: bigint[], parent: bigint | null, tokens: number[], over: Partial<ExactIndexStoredEvent> = {}): ExactIndexStoredEvent {
  return { type: 'BlockStored', blockHashes: hashes, parentBlockHash: parent, tokenIds: tokens, blockSize: 4, loraName: null, medium: 'GPU', ...over };
}

test('a stored chain matches the longest full-block prefix of a request, per endpoint', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([11n, 12n, 13n], null, range(0, 12)));
  idx.apply('b', M, stored([21n], null, range(0, 4)));
  assert.deepEqual(idx.match(M, null, range(0, 14)), new Map([['a', 3], ['b', 1]]));
  assert.deepEqual(idx.match(M, null, range(0, 7)), new Map([['a', 1], ['b', 1]]), 'only full blocks count');
  assert.deepEqual(idx.match(M, null, [0, 1, 2, 3, 9, 9, 9, 9, 8, 9, 10, 11]), new Map([['a', 1], ['b', 1]]), 'a chain breaks at the first differing block');
  assert.deepEqual(idx.match(M, null, range(1, 12)), new Map(), 'a shifted prompt matches nothing');
  assert.equal(idx.blocks('a'), 3);
  assert.equal(idx.blockSize('a'), 4);
});

test('a continuation event chains on its parent; the model, LoRA and cache_salt partition the cache', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n, 2n], null, range(0, 8)));
  idx.apply('a', M, stored([3n], 2n, range(8, 4)));
  assert.equal(idx.match(M, null, range(0, 12)).get('a'), 3);
  assert.equal(idx.match('other-model', null, range(0, 12)).size, 0);
  idx.apply('b', M, stored([1n, 2n], null, range(0, 8), { loraName: 'sql-lora' }));
  assert.deepEqual(idx.match(M, 'sql-lora', range(0, 8)), new Map([['b', 2]]));
  assert.deepEqual(idx.match(M, null, range(0, 8)), new Map([['a', 2]]));
  idx.apply('c', M, stored([7n, 8n], null, range(0, 8), { extraKeys: [{ cacheSalt: 's1', other: null }, null] }));
  assert.deepEqual(idx.match(M, null, range(0, 8), 's1'), new Map([['c', 2]]));
  assert.equal(idx.match(M, null, range(0, 8), 's2').size, 0);
});

test('blocks with keys the router cannot see (multimodal) never match by tokens alone', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n, 2n, 3n], null, range(0, 12), { extraKeys: [null, { cacheSalt: null, other: '{"hash":"img"}' }, null] }));
  assert.deepEqual(idx.match(M, null, range(0, 12)), new Map([['a', 1]]));
  assert.equal(idx.blocks('a'), 3);
});

test('BlockRemoved cuts the chain at the removed block; AllBlocksCleared and resets drop everything', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n, 2n, 3n, 4n], null, range(0, 16)));
  idx.apply('b', M, stored([1n, 2n, 3n, 4n], null, range(0, 16)));
  idx.apply('a', M, { type: 'BlockRemoved', blockHashes: [4n, 3n], medium: 'GPU' });
  assert.deepEqual(idx.match(M, null, range(0, 16)), new Map([['a', 2], ['b', 4]]));
  idx.apply('a', M, { type: 'BlockRemoved', blockHashes: [99n], medium: 'GPU' });
  assert.equal(idx.counters.unknownRemovals, 1);
  idx.apply('a', M, { type: 'AllBlocksCleared' });
  assert.deepEqual(idx.match(M, null, range(0, 16)), new Map([['b', 4]]));
  assert.equal(idx.blocks('a'), 0);
  idx.resetEndpoint('b');
  assert.equal(idx.match(M, null, range(0, 16)).size, 0);
  assert.equal(idx.memoryStats().blocks, 0);
  idx.apply('b', M, stored([1n], null, range(0, 4)));
  idx.removeEndpoint('b');
  assert.deepEqual(idx.endpoints(), ['a']);
  assert.equal(idx.memoryStats().distinctKeys, 0);
});

test('a block whose parent was never announced is counted, not indexed', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([5n, 6n], 4n, range(4, 8)));
  assert.equal(idx.counters.orphanBlocks, 2);
  assert.equal(idx.blocks('a'), 0);
});

test('tiers: a CPU copy keeps a block matchable after its GPU removal; matchWeighted weighs tiers as llm-d', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n, 2n], null, range(0, 8)));
  idx.apply('a', M, stored([1n, 2n], null, [], { medium: 'CPU' }));
  idx.apply('a', M, { type: 'BlockRemoved', blockHashes: [2n], medium: 'GPU' });
  assert.equal(idx.match(M, null, range(0, 8)).get('a'), 2);
  assert.equal(idx.matchWeighted(M, null, range(0, 8)).get('a'), 1 + 0.8);
  idx.apply('a', M, { type: 'BlockRemoved', blockHashes: [2n], medium: 'CPU' });
  assert.equal(idx.match(M, null, range(0, 8)).get('a'), 1);
  idx.apply('a', M, stored([77n], null, [], { medium: 'CPU' }));
  assert.equal(idx.counters.unknownTierStores, 1);
});

test('events of KV-cache groups other than 0 are counted and skipped', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n], null, range(0, 4), { groupIdx: 1 }));
  idx.apply('a', M, stored([1n], null, range(0, 4), { groupIdx: 0 }));
  assert.equal(idx.counters.otherGroupEvents, 1);
  assert.equal(idx.blocks('a'), 1);
});

test('endpoints with different block sizes are matched each in its own size', () => {
  const idx = new ExactPrefixIndex();
  idx.apply('a', M, stored([1n, 2n], null, range(0, 8), { blockSize: 4 }));
  idx.apply('b', M, stored([1n], null, range(0, 8), { blockSize: 8 }));
  assert.deepEqual(idx.match(M, null, range(0, 8)), new Map([['a', 2], ['b', 1]]));
});

// ---- model-based: the index against a plain reference that keys blocks by their whole token prefix ----

interface Step {
  ep: string;
  kind: 'store' | 'continue' | 'remove' | 'clear' | 'cpu';
  prompt: number;
  blocks: number;
}
const PROMPTS = 6;
const BS = 4;
/** Prompt p: shares its first (p % 3) blocks with prompt 0, then its own tokens. */
const promptTokens = (p: number) => range(0, BS * (p % 3)).concat(range(1000 * (p + 1), BS * 10));
const engineHash = (ep: string, p: number, i: number) => {
  // Engine hashes are per-endpoint names: equal content on two endpoints has unrelated names here.
  const shared = i < p % 3;
  return BigInt((ep.charCodeAt(0) << 20) + (shared ? 0 : (p + 1) << 10) + i);
};

function eventsOf(steps: Step[]): [string, ExactIndexEvent][] {
  const out: [string, ExactIndexEvent][] = [];
  for (const s of steps) {
    const toks = promptTokens(s.prompt);
    const n = Math.min(s.blocks, 10);
    const hashes = range(0, n).map((i) => engineHash(s.ep, s.prompt, i));
    if (s.kind === 'store') out.push([s.ep, stored(hashes, null, toks.slice(0, n * BS))]);
    else if (s.kind === 'continue' && n >= 2) {
      out.push([s.ep, stored(hashes.slice(0, 1), null, toks.slice(0, BS))]);
      out.push([s.ep, stored(hashes.slice(1), hashes[0], toks.slice(BS, n * BS))]);
    } else if (s.kind === 'remove') out.push([s.ep, { type: 'BlockRemoved', blockHashes: hashes.slice(Math.floor(n / 2)), medium: 'GPU' }]);
    else if (s.kind === 'cpu') out.push([s.ep, stored(hashes, null, [], { medium: 'CPU' })]);
    else if (s.kind === 'clear') out.push([s.ep, { type: 'AllBlocksCleared' }]);
  }
  return out;
}

/** Reference: endpoint → engine hash → {prefix text, tiers}. */
function reference(events: [string, ExactIndexEvent][]) {
  const eps = new Map<string, Map<bigint, { key: string; tiers: Set<string> }>>();
  for (const [ep, e] of events) {
    const m = eps.get(ep) ?? new Map();
    eps.set(ep, m);
    if (e.type === 'AllBlocksCleared') m.clear();
    else if (e.type === 'BlockRemoved') {
      for (const h of e.blockHashes) {
        const b = m.get(h);
        if (!b) continue;
        b.tiers.delete(e.medium ?? 'GPU');
        if (b.tiers.size === 0) m.delete(h);
      }
    } else if (e.tokenIds.length === 0) {
      for (const h of e.blockHashes) m.get(h)?.tiers.add(e.medium ?? 'GPU');
    } else {
      let key = e.parentBlockHash === null ? '' : m.get(e.parentBlockHash)?.key;
      if (key === undefined) continue;
      e.blockHashes.forEach((h, i) => {
        key += e.tokenIds.slice(i * e.blockSize, (i + 1) * e.blockSize).join(',') + '|';
        const b = m.get(h);
        if (b) b.tiers.add(e.medium ?? 'GPU');
        else m.set(h, { key: key!, tiers: new Set([e.medium ?? 'GPU']) });
      });
    }
  }
  return (tokens: number[]) => {
    const res = new Map<string, number>();
    for (const [ep, m] of eps) {
      const held = new Set([...m.values()].map((b) => b.key));
      let key = '';
      let n = 0;
      while ((n + 1) * BS <= tokens.length && held.has((key += tokens.slice(n * BS, (n + 1) * BS).join(',') + '|'))) n++;
      if (n > 0) res.set(ep, n);
    }
    return res;
  };
}

const step = fc.record({
  ep: fc.constantFrom('a', 'b', 'c'),
  kind: fc.constantFrom('store', 'store', 'continue', 'remove', 'clear', 'cpu'),
  prompt: fc.integer({ min: 0, max: PROMPTS - 1 }),
  blocks: fc.integer({ min: 1, max: 10 }),
}) as fc.Arbitrary<Step>;
const FUZZ = { numRuns: Number(process.env.FUZZ_RUNS ?? 300), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 };

test('model-based: matches equal a reference that keys blocks by their whole token prefix', () => {
  let multiBlock = 0;
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      const events = eventsOf(steps);
      const idx = new ExactPrefixIndex({ initialBlocks: 4 }); // small, so growth and rehash run too
      for (const [ep, e] of events) idx.apply(ep, M, e);
      const ref = reference(events);
      for (let p = 0; p < PROMPTS; p++) {
        const toks = promptTokens(p);
        const got = idx.match(M, null, toks);
        assert.deepEqual(got, ref(toks), `prompt ${p}`);
        if ([...got.values()].some((n) => n > 1)) multiBlock++;
      }
    }),
    FUZZ,
  );
  assert.ok(multiBlock > FUZZ.numRuns, `only ${multiBlock} multi-block matches: the generator exercises too little`);
});

test('deterministic: two indexes fed the same per-endpoint streams in different interleavings give identical matches', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), fc.integer(), (steps, seed) => {
      const events = eventsOf(steps);
      // Same order within each endpoint, a different order across endpoints.
      const perEp = new Map<string, ExactIndexEvent[]>();
      for (const [ep, e] of events) perEp.set(ep, [...(perEp.get(ep) ?? []), e]);
      const shuffled: [string, ExactIndexEvent][] = [];
      let r = seed >>> 0;
      const queues = [...perEp.entries()].map(([ep, l]) => ({ ep, l: [...l] }));
      while (queues.some((q) => q.l.length)) {
        r = (Math.imul(r, 1103515245) + 12345) >>> 0;
        const live = queues.filter((q) => q.l.length);
        const q = live[r % live.length];
        shuffled.push([q.ep, q.l.shift()!]);
      }
      const one = new ExactPrefixIndex();
      const two = new ExactPrefixIndex();
      for (const [ep, e] of events) one.apply(ep, M, e);
      for (const [ep, e] of shuffled) two.apply(ep, M, e);
      for (let p = 0; p < PROMPTS; p++) {
        const toks = promptTokens(p);
        assert.deepEqual(two.match(M, null, toks), one.match(M, null, toks));
        assert.deepEqual(two.matchWeighted(M, null, toks), one.matchWeighted(M, null, toks));
      }
      assert.equal(two.memoryStats().blocks, one.memoryStats().blocks);
    }),
    FUZZ,
  );
});

test('memory: a full index reports its typed-array bytes per stored block', () => {
  const idx = new ExactPrefixIndex();
  for (let e = 0; e < 8; e++) {
    for (let p = 0; p < 50; p++) {
      const base = BigInt(e * 1_000_000 + p * 1000);
      idx.apply(`ep${e}`, M, stored(range(0, 64).map((i) => base + BigInt(i)), null, range(p * 10_000, 256)));
    }
  }
  const m = idx.memoryStats();
  assert.equal(m.blocks, 8 * 50 * 64);
  assert.equal(m.distinctKeys, 50 * 64, 'equal content on several endpoints is one key');
  assert.ok(m.bytesPerBlock > 31, `${m.bytesPerBlock} bytes per block`);
});
