// vLLM's request models are pydantic v2 models in lax mode: an int field takes an integer written as
// a string ("max_tokens": "10" asks for 10 tokens) and refuses any other string with a 400 naming
// the field; a float field takes any numeric string ("temperature": "0.5"). The simulator reads its
// int and float fields the same way (src/shared/pydantic-int.ts, pydantic-float.ts).
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

test('float fields sent as numeric strings or bools are accepted: temperature, top_p, min_p, the penalties, logit_bias values', async () => {
  const sampling = { temperature: '0.5', top_p: ' 0.9 ', min_p: '1e-3', presence_penalty: '-1.5', frequency_penalty: '+2', repetition_penalty: '1_0.5', logit_bias: { '5': '-100', '7': true } };
  const c = await post(s, '/v1/completions', { model: MODEL, prompt: 'hi', max_tokens: 2, ...sampling });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.usage.completion_tokens, 2);
  const chat = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...sampling, top_p: true });
  assert.equal(chat.status, 200, chat.text);
});

test('a float field whose string is not a number is a 400 naming the field; a coerced value meets the range checks', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ temperature: 'hot' }, 'temperature', /^temperature must be a number$/],
    [{ top_p: '' }, 'top_p', /^top_p must be a number$/],
    [{ presence_penalty: '0,5' }, 'presence_penalty', /^presence_penalty must be a number$/],
    [{ frequency_penalty: [1] }, 'frequency_penalty', /^frequency_penalty must be a number$/],
    [{ min_p: '1__0' }, 'min_p', /^min_p must be a number$/],
    [{ logit_bias: { '5': 'strong' } }, 'logit_bias', /^logit_bias\["5"\] must be a number$/],
    // pydantic reads these; they have no meaning as sampling parameters (pydanticFloat's callers' rule).
    [{ temperature: 'nan' }, 'temperature', /^temperature must be a finite number$/],
    [{ repetition_penalty: 'inf' }, 'repetition_penalty', /^repetition_penalty must be a finite number$/],
    // Parsed, then checked as a number is.
    [{ top_p: '1.5' }, 'top_p', /^top_p must be in \(0, 1\], got 1\.5\.$/],
    [{ temperature: '-0.1' }, 'temperature', /^temperature must be non-negative, got -0\.1\.$/],
    [{ frequency_penalty: '2.5' }, 'frequency_penalty', /^frequency_penalty must be in \[-2, 2\], got 2\.5\.$/],
  ];
  for (const [fields, param, message] of cases) {
    for (const [path, body] of [['/v1/completions', { prompt: 'hi' }], ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }]] as const) {
      const r = await post(s, path, { model: MODEL, max_tokens: 1, ...body, ...fields });
      assert.equal(r.status, 400, `${path} ${JSON.stringify(fields)}: ${r.text}`);
      assert.equal(r.json.error.param, param);
      assert.match(r.json.error.message, message);
      assert.equal(r.json.error.type, 'invalid_request_error');
    }
  }
});
