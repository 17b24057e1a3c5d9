import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenizer, EstimateTokenizer } from '../../src/engine/index.js';

test('estimate tokenizer: ~4 characters per token, equal text gives equal ids', () => {
  const t = new EstimateTokenizer();
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(10);
  const ids = t.encode(text);
  assert.equal(ids.length, Math.ceil(text.length / 4));
  assert.deepEqual(t.encode(text), ids);
});

test('estimate tokenizer: a shared text prefix gives a shared id prefix', () => {
  const t = new EstimateTokenizer();
  const a = t.encode('shared system prompt text here... then question A');
  const b = t.encode('shared system prompt text here... then something else entirely');
  let common = 0;
  while (a[common] === b[common]) common++;
  assert.ok(common >= 8, `common prefix ${common}`);
});

test('estimate tokenizer: decoded output re-encodes to the same ids', () => {
  const t = new EstimateTokenizer();
  const ids = [0, 5, 17, 40, 85, 3];
  assert.deepEqual(t.encode(t.decode(ids)), ids);
});

test('the real Qwen tokenizer loads and encodes known text', async () => {
  const q = await createTokenizer('qwen');
  const ids = q.encode('Hello, my dog is cute');
  assert.ok(ids.length >= 5 && ids.length <= 8, `${ids.length} tokens`);
  assert.equal(q.decode(ids), 'Hello, my dog is cute');
  const chat = q.encode(q.renderChat([{ role: 'user', content: 'hi' }]));
  assert.ok(chat.length < 15, 'ChatML markers are single special tokens');
});

test('an unreadable tokenizer.json path gives a clear error', async () => {
  await assert.rejects(createTokenizer('/nonexistent/tokenizer.json'), /cannot read tokenizer file/);
});
