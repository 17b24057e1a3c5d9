import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';
import { EstimateTokenizer } from '../../src/engine/index.js';

test('a repeated prompt hits whole blocks, capped at n−1 tokens', () => {
  const { clock, submit, engine } = virtualEngine({ blockSize: 16 });
  const prompt = seqTokens(64); // exactly 4 blocks
  const a = submit(prompt);
  clock.runUntilIdle();
  assert.equal(a.outcome!.cachedTokens, 0);
  const b = submit(prompt);
  clock.runUntilIdle();
  // the last token is always recomputed, so only 3 of the 4 full blocks can hit
  assert.equal(b.outcome!.cachedTokens, 48);
  const c = submit([...prompt, 7]); // 65 tokens: all 4 blocks may hit
  clock.runUntilIdle();
  assert.equal(c.outcome!.cachedTokens, 64);
  const s = engine.stats();
  assert.equal(s.prefixCacheQueries, 64 + 64 + 65);
  assert.equal(s.prefixCacheHits, 48 + 64);
});

test('a shared prefix hits only up to the first differing block', () => {
  const { clock, submit } = virtualEngine({ blockSize: 16 });
  submit(seqTokens(80));
  clock.runUntilIdle();
  const other = [...seqTokens(40), ...seqTokens(40, 5000)]; // blocks 0,1 equal; block 2 differs at token 40
  const r = submit(other);
  clock.runUntilIdle();
  assert.equal(r.outcome!.cachedTokens, 32);
});

test('prefix caching disabled never hits', () => {
  const { clock, submit, engine } = virtualEngine({ enablePrefixCaching: false });
  submit(seqTokens(64));
  clock.runUntilIdle();
  const r = submit(seqTokens(64));
  clock.runUntilIdle();
  assert.equal(r.outcome!.cachedTokens, 0);
  assert.equal(engine.stats().prefixCacheHits, 0);
});

test('cache_salt and LoRA partition the cache', () => {
  const { clock, submit } = virtualEngine();
  submit(seqTokens(64), 1, { cacheSalt: 'tenant-a' });
  clock.runUntilIdle();
  const other = submit(seqTokens(64), 1, { cacheSalt: 'tenant-b' });
  const lora = submit(seqTokens(64), 1, { cacheSalt: 'tenant-a', loraName: 'sql' });
  const same = submit(seqTokens(64), 1, { cacheSalt: 'tenant-a' });
  clock.runUntilIdle();
  assert.equal(other.outcome!.cachedTokens, 0);
  assert.equal(lora.outcome!.cachedTokens, 0);
  assert.equal(same.outcome!.cachedTokens, 48);
});

test('eviction takes a chain tail first and fires BlockRemoved only on reallocation', () => {
  // 8 blocks of 4 tokens. Request A fills 4 blocks and finishes; its blocks stay cached.
  const { clock, submit, events } = virtualEngine({ blockSize: 4, kvCacheSize: 8 });
  const a = seqTokens(16);
  submit(a);
  clock.runUntilIdle();
  const stored = events.filter((e) => e.type === 'BlockStored');
  assert.ok(stored.length >= 4);
  assert.equal(events.filter((e) => e.type === 'BlockRemoved').length, 0, 'finishing does not evict');
  // B needs 6 fresh blocks: the 3 never-hashed free blocks go first, then A's chain from the tail.
  submit(seqTokens(23, 9000));
  clock.runUntilIdle();
  const removed = events.filter((e) => e.type === 'BlockRemoved').flatMap((e) => (e.type === 'BlockRemoved' ? e.blockHashes : []));
  assert.ok(removed.length >= 1, 'reallocating cached blocks emits BlockRemoved');
  const aHashes = stored.slice(0, 4).map((e) => (e.type === 'BlockStored' ? e.blockHashes[0] : 0n));
  // the removed hashes are A's last blocks, never its first
  assert.ok(!removed.includes(aHashes[0]), 'shared prefix head survives');
  assert.ok(removed.includes(aHashes[aHashes.length - 1]) || removed.includes(aHashes[2]), 'chain tail evicted first');
  // A's first block still hits
  const again = submit(seqTokens(8));
  clock.runUntilIdle();
  assert.equal(again.outcome!.cachedTokens, 4);
});

test('a second chat turn hits the first turn\'s reply blocks (output blocks are cached)', () => {
  const tok = new EstimateTokenizer();
  const { clock, submit } = virtualEngine({ blockSize: 16 });
  const turn1 = [
    { role: 'system', content: 'You are a helpful assistant. '.repeat(20) },
    { role: 'user', content: 'Tell me a long story about a cat.' },
  ];
  const p1 = tok.encode(tok.renderChat(turn1));
  const r1 = submit(p1, 64);
  clock.runUntilIdle();
  const reply = tok.decode(r1.tokens);
  const p2 = tok.encode(tok.renderChat([...turn1, { role: 'assistant', content: reply }, { role: 'user', content: 'And then?' }]));
  // the re-rendered second turn starts with turn 1's prompt and reply token ids
  assert.deepEqual(p2.slice(0, p1.length + r1.tokens.length), [...p1, ...r1.tokens]);
  const r2 = submit(p2, 4);
  clock.runUntilIdle();
  const promptOnlyBlocks = Math.floor(p1.length / 16) * 16;
  assert.ok(r2.outcome!.cachedTokens > promptOnlyBlocks, `cached ${r2.outcome!.cachedTokens} should exceed the prompt-only ${promptOnlyBlocks}`);
  assert.ok(r2.outcome!.cachedTokens >= Math.floor((p1.length + r1.tokens.length - 1) / 16) * 16 - 16);
});

test('KV events carry u64 hashes, parent links, token ids and block size', () => {
  const { clock, submit, events } = virtualEngine({ blockSize: 16 });
  const prompt = seqTokens(40);
  submit(prompt);
  clock.runUntilIdle();
  const stored = events.filter((e) => e.type === 'BlockStored');
  assert.equal(stored.length, 2); // 40 prompt tokens + 1 output = 2 full blocks
  const [b0, b1] = stored as Extract<(typeof stored)[number], { type: 'BlockStored' }>[];
  assert.equal(b0.parentBlockHash, null);
  assert.equal(b1.parentBlockHash, b0.blockHashes[0]);
  assert.deepEqual(b0.tokenIds, prompt.slice(0, 16));
  assert.equal(b0.blockSize, 16);
  assert.ok(b0.blockHashes[0] >= 0n && b0.blockHashes[0] < 1n << 64n);
});
