import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';

// vLLM P/D disaggregation (NixlConnector): a decode-side request with do_remote_prefill pulls the
// prompt's KV asynchronously (WAITING_FOR_REMOTE_KVS, counted as waiting), holding its blocks; once
// the pull lands every prompt token but the last counts as computed and the last is recomputed.
test('a remote-prefill request waits for the KV pull, then decodes without a local prefill', () => {
  const { clock, engine, submit } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e' });
  const prompt = seqTokens(1000);
  const r = submit(prompt, 3, { remotePrefill: { transferMs: 40 } });
  clock.run(20);
  assert.equal(engine.stats().waiting, 1, 'pulling counts as waiting');
  assert.equal(engine.stats().running, 0);
  assert.ok(engine.stats().kvCacheUsage > 0, 'blocks are held during the pull');
  clock.runUntilIdle();
  const o = r.outcome!;
  assert.equal(o.completionTokens, 3);
  assert.equal(o.cachedTokens, 999);
  assert.equal(o.externalTokens, 999);
  assert.ok(o.timings.firstTokenMs! >= 40, 'no token before the pull ends');
  const s = engine.stats();
  assert.equal(s.externalPrefixCacheHits, 999);
  assert.equal(s.externalPrefixCacheQueries, 1000);
  assert.equal(s.promptTokensExternal, 999);
  assert.equal(s.promptTokensLocalCompute, 1);
  assert.equal(s.promptTokensRecomputed, 1);
  // A local prefill of the same 1000 tokens would take ~45 ms on this profile; the remote one
  // costs the 40 ms pull plus one short step, so TTFT stays under pull + two steps.
  assert.ok(o.timings.firstTokenMs! < 40 + 2 * 7.6, `TTFT ${o.timings.firstTokenMs}`);
});

test('local prefix hits are not pulled; the pulled blocks become cached', () => {
  const { clock, submit } = virtualEngine({});
  const prompt = seqTokens(64);
  submit(prompt.slice(0, 33), 1);
  clock.runUntilIdle();
  const r = submit(prompt, 1, { remotePrefill: { transferMs: 5 } });
  clock.runUntilIdle();
  assert.equal(r.outcome!.cachedTokens, 63);
  assert.equal(r.outcome!.externalTokens, 63 - 32);
  const again = submit(prompt, 1);
  clock.runUntilIdle();
  assert.equal(again.outcome!.cachedTokens, 48, 'pulled blocks are registered like computed ones');
});

test('aborting a request during its pull frees its blocks', () => {
  const { clock, engine, submit } = virtualEngine({});
  const r = submit(seqTokens(64), 5, { remotePrefill: { transferMs: 50 } });
  clock.run(10);
  engine.abort('r0');
  assert.equal(r.outcome!.finishReason, 'abort');
  assert.equal(engine.stats().kvCacheUsage, 0);
  assert.equal(engine.stats().waiting, 0);
  clock.runUntilIdle();
});
