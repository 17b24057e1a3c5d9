import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine } from './helpers.js';
import { EstimateTokenizer } from '../../src/engine/index.js';

// ARCHITECTURE.md calibration targets for the seed's fleet, checked in virtual time (the HTTP
// path adds ~1 ms on loopback; `npm run bench:sim` measures the same requests end to end).
test('qwen2.5-3b-tpu-v6e: ~3,000-token cold prefix ≈ 215 ms, warm ≈ 80 ms (within 15 %)', () => {
  const tok = new EstimateTokenizer();
  const { clock, submit } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e' });
  const prefix = 'Background document. '.repeat(570); // ~12,000 characters ≈ 3,000 tokens
  const prompt = tok.encode(tok.renderChat([{ role: 'user', content: `${prefix}\nQuestion: what is the capital of France?` }]));
  assert.ok(prompt.length > 2900 && prompt.length < 3100, `prompt has ${prompt.length} tokens`);
  const t0 = clock.now();
  const cold = submit(prompt, 10);
  clock.runUntilIdle();
  const coldMs = cold.outcome!.timings.finishedMs! - t0;
  const t1 = clock.now();
  const warm = submit(prompt, 10);
  clock.runUntilIdle();
  const warmMs = warm.outcome!.timings.finishedMs! - t1;
  assert.ok(Math.abs(coldMs - 215) / 215 <= 0.15, `cold ${coldMs.toFixed(1)} ms`);
  assert.ok(Math.abs(warmMs - 80) / 80 <= 0.15, `warm ${warmMs.toFixed(1)} ms`);
  assert.ok(warm.outcome!.cachedTokens > 2900);
});
