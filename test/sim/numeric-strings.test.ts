// vLLM's request models are pydantic v2 models in lax mode: an int field takes an integer written as
// a string ("max_tokens": "10" asks for 10 tokens) and refuses any other string with a 400 naming
// the field. The simulator reads its int fields the same way (src/shared/pydantic-int.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningSim } from '../../src/sim/server.js';
import { MODEL, sim, post } from './helpers.js';

let s: RunningSim;
before(async () => {
  s = await sim();
});
after(() => s.close());

test('integer fields sent as numeric strings are coerced: max_tokens, n, max_completion_tokens, embeddings dimensions', async () => {
  const c = await post(s, '/v1/completions', { model: MODEL, prompt: 'Tell me a story', max_tokens: '5', n: '2', ignore_eos: true });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.choices.length, 2);
  assert.equal(c.json.usage.completion_tokens, 10);
  assert.ok(c.json.choices.every((ch: { finish_reason: string }) => ch.finish_reason === 'length'));

  const chat = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: ' 3.0 ', ignore_eos: true });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.usage.completion_tokens, 3);

  const e = await post(s, '/v1/embeddings', { model: MODEL, input: 'hi', dimensions: '8' });
  assert.equal(e.status, 200, e.text);
  assert.equal(e.json.data[0].embedding.length, 8);
});

test('a string pydantic cannot read as an integer is a 400 naming the field', async () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['/v1/completions', { prompt: 'hi', max_tokens: '1.5' }, 'max_tokens'],
    ['/v1/completions', { prompt: 'hi', max_tokens: 'abc' }, 'max_tokens'],
    ['/v1/completions', { prompt: 'hi', n: '2x' }, 'n'],
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], seed: '' }, 'seed'],
    ['/v1/completions', { prompt: 'hi', stop_token_ids: ['1.5'] }, 'stop_token_ids'],
    ['/v1/embeddings', { input: 'hi', dimensions: 'eight' }, 'dimensions'],
  ];
  for (const [path, body, field] of cases) {
    const r = await post(s, path, { model: MODEL, ...body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.param, field);
    assert.match(r.json.error.message, new RegExp(`^${field} must be (an integer|a list of token ids \\(integers)`));
    assert.equal(r.json.error.type, 'invalid_request_error');
  }
});

test('a coerced value meets the same range checks as a number', async () => {
  const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'hi', max_tokens: '0' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'max_tokens');
  assert.match(r.json.error.message, /max_tokens must be at least 1, got 0/);
});
