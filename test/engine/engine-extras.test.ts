import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';

// vLLM SamplingParams.seed: the same seed and prompt give the same tokens, whatever else runs.
test('a per-request seed fixes the sampled tokens independently of submission order', () => {
  const a = virtualEngine({});
  a.submit(seqTokens(8, 500), 5);
  const ra = a.submit(seqTokens(8), 6, { seed: 42 });
  a.clock.runUntilIdle();
  const b = virtualEngine({});
  const rb = b.submit(seqTokens(8), 6, { seed: 42 });
  b.clock.runUntilIdle();
  assert.deepEqual(ra.tokens, rb.tokens);
  const c = virtualEngine({});
  const rc = c.submit(seqTokens(8), 6, { seed: 43 });
  c.clock.runUntilIdle();
  assert.notDeepEqual(rc.tokens, ra.tokens);
});

// vLLM IterationStats: per engine step with outputs, prompt lengths of requests whose prefill
// finished plus the tokens generated (vllm:iteration_tokens_total).
test('iteration stats report each producing step\'s prompt and generated tokens', () => {
  const { clock, engine, submit } = virtualEngine({});
  const seen: { promptTokens: number; generationTokens: number }[] = [];
  engine.onIteration((s) => seen.push(s));
  submit(seqTokens(20), 3);
  submit(seqTokens(30, 100), 3);
  clock.runUntilIdle();
  assert.deepEqual(seen[0], { promptTokens: 50, generationTokens: 2 });
  assert.equal(seen.reduce((a, s) => a + s.generationTokens, 0), 6);
  assert.equal(seen.reduce((a, s) => a + s.promptTokens, 0), 50);
});

// vLLM PromptTokenStats: cached = local hits (+ external); a fully cached prompt recomputes its last token.
test('prompt-token sources add up as vLLM counts them', () => {
  const { clock, engine, submit } = virtualEngine({});
  const p = seqTokens(33);
  submit(p, 1);
  clock.runUntilIdle();
  submit(p, 1);
  clock.runUntilIdle();
  const s = engine.stats();
  assert.equal(s.promptTokens, 66);
  assert.equal(s.promptTokensCached, 32);
  assert.equal(s.promptTokensRecomputed, 1);
  assert.equal(s.promptTokensLocalCompute + s.promptTokensLocalCacheHit + s.promptTokensExternal - s.promptTokensRecomputed, s.promptTokens);
});

test('cachedPrefixTokens predicts the hit of a prompt without changing the cache', () => {
  const { clock, engine, submit, events } = virtualEngine({});
  const p = seqTokens(50);
  assert.equal(engine.cachedPrefixTokens(p), 0);
  submit(p, 1);
  clock.runUntilIdle();
  const before = events.length;
  assert.equal(engine.cachedPrefixTokens(p), 48);
  assert.equal(engine.cachedPrefixTokens(p.slice(0, 17)), 16);
  assert.equal(engine.cachedPrefixTokens(p, { cacheSalt: 's' }), 0);
  assert.equal(events.length, before);
  const r = submit(p, 1);
  clock.runUntilIdle();
  assert.equal(r.outcome!.cachedTokens, 48);
});

// vLLM sleep mode discards the KV cache (llm-d-inference-sim emits AllBlocksCleared on /sleep and
// keeps the cache off until /wake_up with tags=kv_cache or no tags).
test('sleep clears and suspends the prefix cache; waking with kv_cache restores it', () => {
  const { clock, engine, submit, events } = virtualEngine({});
  const p = seqTokens(40);
  submit(p, 1);
  clock.runUntilIdle();
  engine.sleep(1);
  assert.equal(engine.stats().sleepLevel, 1);
  assert.ok(events.some((e) => e.type === 'AllBlocksCleared'));
  const asleep = submit(p, 1);
  clock.runUntilIdle();
  assert.equal(asleep.outcome!.cachedTokens, 0);
  engine.wakeUp(false);
  assert.equal(engine.isSleeping, false);
  const noKv = submit(p, 1);
  clock.runUntilIdle();
  assert.equal(noKv.outcome!.cachedTokens, 0, 'woken without kv_cache: cache still off');
  engine.wakeUp(true);
  submit(p, 1);
  clock.runUntilIdle();
  const hit = submit(p, 1);
  clock.runUntilIdle();
  assert.equal(hit.outcome!.cachedTokens, 32);
});

test('keepBlockIds reports the blocks a request held', () => {
  const { clock, submit } = virtualEngine({});
  const r = submit(seqTokens(40), 2, { keepBlockIds: true });
  clock.runUntilIdle();
  assert.equal(r.outcome!.blockIds!.length, 3);
  assert.ok(r.outcome!.blockIds!.every((b) => Number.isInteger(b) && b >= 0));
});
