import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sim, openai, post, metrics, MODEL, type Json } from './helpers.js';
import { sampleValue } from '../helpers/prom-text.js';
import type { RunningSim } from '../../src/sim/server.js';

// vLLM's stop conditions (SamplingParams stop / stop_token_ids / include_stop_str_in_output).
// The simulator used to accept and ignore them: answers ran to max_tokens through the stop string.

let s: RunningSim;
let echo: RunningSim;
before(async () => {
  s = await sim();
  echo = await sim({ mode: 'echo' });
});
after(async () => {
  await s.close();
  await echo.close();
});

/** A seeded answer without stop strings, and a word from its middle that first appears there. */
async function reference(): Promise<{ text: string; stopWord: string; at: number }> {
  const r = await openai(s).completions.create({ model: MODEL, prompt: 'tell me', max_tokens: 30, seed: 7 });
  const text = r.choices[0].text;
  const words = text.split(' ');
  for (let i = 5; i < words.length - 5; i++) {
    const w = `${words[i]} `;
    const at = text.indexOf(w);
    if (at > 0 && at === text.lastIndexOf(w, at) && !text.slice(0, at).includes(words[i])) return { text, stopWord: w, at };
  }
  throw new Error(`no usable stop word in ${text}`);
}

test('a stop string ends the answer before it: finish_reason "stop", stop_reason the string (completions, official client)', async () => {
  const ref = await reference();
  const r = await openai(s).completions.create({ model: MODEL, prompt: 'tell me', max_tokens: 30, seed: 7, stop: ['never-generated', ref.stopWord] });
  const c = r.choices[0] as Json;
  assert.equal(c.text, ref.text.slice(0, ref.at));
  assert.equal(c.finish_reason, 'stop');
  assert.equal(c.stop_reason, ref.stopWord);
  // The token that completed the stop string was generated (and counted), as in vLLM.
  assert.equal(r.usage?.completion_tokens, ref.text.slice(0, ref.at + ref.stopWord.length).split(' ').length - 1);
  const kept = await openai(s).completions.create({ model: MODEL, prompt: 'tell me', max_tokens: 30, seed: 7, stop: ref.stopWord, include_stop_str_in_output: true } as Json);
  assert.equal(kept.choices[0].text, ref.text.slice(0, ref.at + ref.stopWord.length));
});

test('a stream never carries text past the stop point; its chunks add up to the non-streamed answer (chat, official client)', async () => {
  const base = await openai(s).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, seed: 3 });
  const full = base.choices[0].message.content ?? '';
  const stop = full.split(' ')[6].slice(1); // a piece inside a word, so it straddles a token's text
  const cut = full.indexOf(stop);
  assert.ok(cut > 0);
  const one = await openai(s).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, seed: 3, stop });
  assert.equal(one.choices[0].message.content, full.slice(0, cut));
  assert.equal(one.choices[0].finish_reason, 'stop');
  assert.equal((one.choices[0] as Json).stop_reason, stop);
  const stream = await openai(s).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, seed: 3, stop, stream: true });
  let text = '';
  const finishes: (string | null)[] = [];
  let last: Json;
  for await (const ch of stream) {
    text += ch.choices[0]?.delta?.content ?? '';
    finishes.push(ch.choices[0]?.finish_reason ?? null);
    last = ch.choices[0];
    assert.ok(!text.includes(stop), `streamed text reached the stop string: ${text}`);
  }
  assert.equal(text, full.slice(0, cut));
  assert.deepEqual(finishes.filter((f) => f !== null), ['stop']);
  assert.equal(last.stop_reason, stop);
});

test('stop_token_ids end the answer at that token, leaving its text out; stop_reason is the id; counted as finished_reason "stop"', async () => {
  const prompt = 'abcdefghijklmnopqrst';
  const ids = (await post(echo, '/tokenize', { model: MODEL, prompt })).json.tokens as number[];
  assert.ok(ids.length >= 4);
  const before = sampleValue((await metrics(echo)).samples, 'vllm:request_success_total', { model_name: MODEL, engine: '0', finished_reason: 'stop' }) ?? 0;
  const r = await openai(echo).completions.create({ model: MODEL, prompt, max_tokens: 50, stop_token_ids: [ids[2]] } as Json);
  const c = r.choices[0] as Json;
  const pieces = (await post(echo, '/tokenize', { model: MODEL, prompt, return_token_strs: true })).json.token_strs as string[];
  assert.equal(c.text, pieces.slice(0, 2).join(''));
  assert.equal(c.finish_reason, 'stop');
  assert.equal(c.stop_reason, ids[2]);
  assert.equal(r.usage?.completion_tokens, 3);
  const after = sampleValue((await metrics(echo)).samples, 'vllm:request_success_total', { model_name: MODEL, engine: '0', finished_reason: 'stop' });
  assert.equal(after, before + 1);
});

test('bad stop values are 400s naming the field, as vLLM\'s request model rejects them', async () => {
  for (const [body, param, msg] of [
    [{ stop: 5 }, 'stop', /stop must be a string or a list of strings/],
    [{ stop: ['a', 1] }, 'stop', /stop must be a string or a list of strings/],
    [{ stop: [''] }, 'stop', /stop cannot contain an empty string/],
    [{ stop_token_ids: ['a'] }, 'stop_token_ids', /stop_token_ids/],
    [{ stop_token_ids: 3 }, 'stop_token_ids', /stop_token_ids/],
    [{ include_stop_str_in_output: 'sometimes' }, 'include_stop_str_in_output', /include_stop_str_in_output must be a boolean/],
  ] as const) {
    const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'hi', max_tokens: 3, ...body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.param, param);
    assert.match(r.json.error.message, msg);
  }
});

test('min_tokens holds stop conditions off, as vLLM: a stop string completed by the first min_tokens tokens does not stop', async () => {
  const prompt = 'abcdefghijklmnopqrst'; // echo mode answers it back in 4-character tokens
  const ids = (await post(echo, '/tokenize', { model: MODEL, prompt })).json.tokens as number[];
  const early = await post(echo, '/v1/completions', { model: MODEL, prompt, max_tokens: 50, stop: ['abcd'] });
  assert.equal(early.json.choices[0].text, '');
  assert.equal(early.json.choices[0].stop_reason, 'abcd');
  const held = await post(echo, '/v1/completions', { model: MODEL, prompt, max_tokens: 50, stop: ['abcd'], min_tokens: 1 });
  assert.equal(held.json.choices[0].text, prompt);
  assert.equal(held.json.choices[0].stop_reason, null);
  // A stop token id counts from the min_tokens-th token on.
  const atMin = await post(echo, '/v1/completions', { model: MODEL, prompt, max_tokens: 50, stop_token_ids: [ids[1]], min_tokens: 2 });
  assert.equal(atMin.json.choices[0].stop_reason, ids[1]);
  assert.equal(atMin.json.usage.completion_tokens, 2);
  const before = await post(echo, '/v1/completions', { model: MODEL, prompt, max_tokens: 50, stop_token_ids: [ids[1]], min_tokens: 3 });
  assert.equal(before.json.choices[0].text, prompt);
  assert.equal(before.json.choices[0].stop_reason, null);
});
