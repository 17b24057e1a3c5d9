import { test } from 'node:test';
import assert from 'node:assert/strict';
import { virtualEngine, seqTokens } from './helpers.js';

// vLLM V1 scheduler (vllm/v1/core/sched/scheduler.py): a waiting request whose LoRA adapter is not
// in the running batch is skipped while the batch already holds max_loras distinct adapters; it
// keeps its place at the head of the queue and base-model requests behind it are scheduled.
test('max_loras bounds the distinct adapters running at once; others wait in order', () => {
  const { clock, engine, submit } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e', maxLoras: 1 });
  const a = submit(seqTokens(32, 0), 4, { loraName: 'a' });
  const b = submit(seqTokens(32, 100), 4, { loraName: 'b' });
  const base = submit(seqTokens(32, 200), 4);
  const a2 = submit(seqTokens(32, 300), 4, { loraName: 'a' });
  clock.run(1);
  const live = engine.loraStats();
  assert.deepEqual([...live.running.entries()], [['a', 2]], 'both a requests run together; b may not');
  assert.deepEqual([...live.waiting.entries()], [['b', 1]]);
  assert.equal(engine.stats().running, 3, 'the base-model request is not held back by b');
  clock.runUntilIdle();
  for (const r of [a, b, base, a2]) assert.equal(r.outcome!.completionTokens, 4);
  assert.ok(b.outcome!.timings.scheduledMs! >= Math.max(a.outcome!.timings.finishedMs!, a2.outcome!.timings.finishedMs!), 'b starts once no a is running');
  assert.equal(engine.loraStats().running.size + engine.loraStats().waiting.size, 0);
});

test('without max_loras every adapter runs at once', () => {
  const { clock, engine, submit } = virtualEngine({ profileName: 'qwen2.5-3b-tpu-v6e' });
  for (const name of ['a', 'b', 'c']) submit(seqTokens(16, name.charCodeAt(0) * 10), 3, { loraName: name });
  clock.run(1);
  assert.equal(engine.loraStats().running.size, 3);
});

test('BlockStored carries the adapter name and id; adapters partition the prefix cache', () => {
  const { clock, events, submit } = virtualEngine({});
  const prompt = seqTokens(40);
  submit(prompt, 1, { loraName: 'sql', loraId: 3 });
  clock.runUntilIdle();
  const stored = events.filter((e) => e.type === 'BlockStored');
  assert.ok(stored.length >= 2);
  for (const e of stored) {
    assert.equal(e.type === 'BlockStored' && e.loraName, 'sql');
    assert.equal(e.type === 'BlockStored' && e.loraId, 3);
  }
  const base = submit(prompt, 1);
  const again = submit(prompt, 1, { loraName: 'sql', loraId: 3 });
  clock.runUntilIdle();
  assert.equal(base.outcome!.cachedTokens, 0, 'the base model does not hit the adapter\'s blocks');
  assert.equal(again.outcome!.cachedTokens, 32);
});
