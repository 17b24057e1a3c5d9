// Conformance of /v1/completions with vLLM's OpenAI server. Each case names where vLLM defines the
// behaviour: vllm/entrypoints/openai/completion/protocol.py (CompletionRequest validators),
// completion/serving.py (response and stream building), vllm/sampling_params.py (SamplingParams).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningSim } from '../../src/sim/server.js';
import { MODEL, sim, openai, post, sseEvents, type Json } from './helpers.js';

let s: RunningSim;
let client: OpenAI;
before(async () => {
  s = await sim();
  client = openai(s);
});
after(() => s.close());

type Params = OpenAI.CompletionCreateParamsNonStreaming & Record<string, unknown>;
const create = (p: Record<string, unknown>) => client.completions.create({ model: MODEL, ...p } as Params) as Promise<Json>;

async function badRequest(p: Record<string, unknown>): Promise<InstanceType<typeof OpenAI.BadRequestError>> {
  const err = await create(p).then(
    () => assert.fail('expected a 400'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  return err as InstanceType<typeof OpenAI.BadRequestError>;
}

// SamplingParams.n: n samples of one prompt, choices indexed 0..n−1; usage counts the prompt once.
test('n returns n choices, each generated, and usage sums their tokens', async () => {
  const r = await create({ prompt: 'Tell me a story', max_tokens: 4, n: 3 });
  assert.deepEqual(r.choices.map((c: Json) => c.index), [0, 1, 2]);
  assert.ok(r.choices.every((c: Json) => c.text.length > 0 && c.finish_reason === 'length'));
  assert.equal(r.usage.completion_tokens, 12);
  const single = await create({ prompt: 'Tell me a story', max_tokens: 1 });
  assert.equal(r.usage.prompt_tokens, single.usage.prompt_tokens);
});

// serving.py: a list prompt is a batch; choice index = prompt_index · n + sample index; usage sums every prompt.
test('a list of prompts is served as a batch, choices indexed prompt by prompt', async () => {
  const r = await create({ prompt: ['The first prompt', 'A second, longer prompt here'], max_tokens: 2, n: 2 });
  assert.deepEqual(r.choices.map((c: Json) => c.index), [0, 1, 2, 3]);
  const a = await create({ prompt: 'The first prompt', max_tokens: 1 });
  const b = await create({ prompt: 'A second, longer prompt here', max_tokens: 1 });
  assert.equal(r.usage.prompt_tokens, a.usage.prompt_tokens + b.usage.prompt_tokens);
  assert.equal(r.usage.completion_tokens, 8);
  const ids = await create({ prompt: [[1, 2, 3], [4, 5, 6, 7]], max_tokens: 1 });
  assert.equal(ids.usage.prompt_tokens, 7, 'token-id prompts count their ids');
});

// serving.py, streaming: each chunk names its choice index; batch prompts stream interleaved.
test('a streamed batch labels every chunk with its choice index and ends each choice once', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: ['one', 'two'], max_tokens: 3, n: 2, stream: true });
  const finishes = new Map<number, number>();
  const texts = new Map<number, string>();
  for await (const c of stream) {
    for (const ch of c.choices) {
      texts.set(ch.index, (texts.get(ch.index) ?? '') + ch.text);
      if (ch.finish_reason) finishes.set(ch.index, (finishes.get(ch.index) ?? 0) + 1);
    }
  }
  assert.deepEqual([...finishes.keys()].sort(), [0, 1, 2, 3]);
  assert.ok([...finishes.values()].every((n) => n === 1));
  assert.ok([...texts.values()].every((t) => t.length > 0));
});

// serving.py: every streamed chunk carries that step's token text; the finish reason rides on the
// last token's chunk (no trailing empty chunk).
test('the last stream chunk carries the last token\'s text and the finish reason', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, stream: true });
  const chunks: Json[] = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks.length, 5);
  assert.ok(chunks.every((c) => c.choices[0].text.length > 0));
  assert.equal(chunks[4].choices[0].finish_reason, 'length');
  assert.ok(chunks.slice(0, 4).every((c) => c.choices[0].finish_reason === null));
});

// protocol.py StreamOptions: continuous_usage_stats adds usage (tokens so far) to every chunk;
// include_usage (default true once stream_options is there) adds a final chunk with empty choices.
test('continuous_usage_stats puts running usage on every chunk', async () => {
  const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'count with me', max_tokens: 4, stream: true, stream_options: { continuous_usage_stats: true } });
  const { events, done } = sseEvents(r.text);
  assert.ok(done);
  const tokenChunks = events.filter((e) => e.choices.length > 0);
  assert.deepEqual(tokenChunks.map((e) => e.usage.completion_tokens), [1, 2, 3, 4]);
  assert.ok(tokenChunks.every((e) => e.usage.total_tokens === e.usage.prompt_tokens + e.usage.completion_tokens));
  const last = events[events.length - 1];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, 4);
});

// CompletionLogProbs: tokens, token_logprobs (≤ 0), top_logprobs (the sampled token among the
// most likely, logprobs entries), text_offset (character offsets into the text).
test('logprobs returns well-formed, sorted top alternatives for every token', async () => {
  const r = await create({ prompt: 'The capital of France is', max_tokens: 6, logprobs: 3 });
  const c = r.choices[0];
  const lp = c.logprobs;
  assert.equal(lp.tokens.length, 6);
  assert.equal(lp.tokens.join(''), c.text);
  let offset = 0;
  for (let i = 0; i < 6; i++) {
    assert.equal(lp.text_offset[i], offset);
    offset += lp.tokens[i].length;
    assert.ok(lp.token_logprobs[i] <= 0);
    const top = Object.entries(lp.top_logprobs[i]) as [string, number][];
    assert.equal(top.length, 3);
    assert.ok(top.every(([, v]) => v <= 0));
    assert.deepEqual(top.map(([, v]) => v), [...top.map(([, v]) => v)].sort((x, y) => y - x), 'sorted best first');
    assert.equal(top[0][0], lp.tokens[i], 'the sampled token is the most likely');
    assert.equal(top[0][1], lp.token_logprobs[i]);
    assert.ok(top.reduce((a, [, v]) => a + Math.exp(v), 0) < 1, 'probabilities sum below 1');
  }
  const zero = await create({ prompt: 'x y z', max_tokens: 2, logprobs: 0 });
  assert.ok(zero.choices[0].logprobs.top_logprobs.every((t: Json) => Object.keys(t).length === 1));
  const none = await create({ prompt: 'x y z', max_tokens: 2 });
  assert.equal(none.choices[0].logprobs, null);
});

test('logprobs are deterministic for a seed', async () => {
  const body = { prompt: 'Deterministic please', max_tokens: 5, logprobs: 2, seed: 7 };
  const a = await create(body);
  const other = await sim();
  try {
    const b = (await openai(other).completions.create({ model: MODEL, ...body } as Params)) as Json;
    assert.deepEqual(b.choices[0].logprobs, a.choices[0].logprobs);
    assert.equal(b.choices[0].text, a.choices[0].text, 'SamplingParams.seed: same seed, same text');
  } finally {
    await other.close();
  }
});

// SamplingParams._validate_logprobs with --max-logprobs 20 (VLLMValidationError wording).
test('logprobs over --max-logprobs, or negative, is a 400', async () => {
  const e = await badRequest({ prompt: 'x', max_tokens: 1, logprobs: 21 });
  assert.match(e.message, /Requested sample logprobs of 21, which is greater than max allowed: 20/);
  assert.equal((e.error as Json).param, 'logprobs');
  const neg = await badRequest({ prompt: 'x', max_tokens: 1, logprobs: -1 });
  assert.match(neg.message, /`logprobs` must be a positive value\./);
});

// CompletionRequest: echo prepends the prompt; with logprobs, prompt_logprobs defaults to logprobs
// and the first prompt token has no logprob (None).
test('echo repeats the prompt before the answer, with prompt logprobs under logprobs', async () => {
  const prompt = 'Echo this prompt back';
  const r = await create({ prompt, max_tokens: 3, echo: true, logprobs: 1 });
  const c = r.choices[0];
  assert.ok(c.text.startsWith(prompt) && c.text.length > prompt.length);
  const n = r.usage.prompt_tokens;
  assert.equal(c.logprobs.tokens.length, n + 3);
  assert.equal(c.logprobs.tokens.join(''), c.text);
  assert.equal(c.logprobs.token_logprobs[0], null);
  assert.equal(c.logprobs.top_logprobs[0], null);
  assert.ok(c.logprobs.token_logprobs.slice(1).every((v: number) => v <= 0));
  assert.equal(c.prompt_logprobs.length, n);
  assert.equal(c.prompt_logprobs[0], null);
  const only = await create({ prompt, max_tokens: 0, echo: true });
  assert.equal(only.choices[0].text, prompt, 'echo with max_tokens 0 returns the prompt only');
});

test('a streamed echo sends the prompt in the first chunk', async () => {
  const prompt = 'stream the echo';
  const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 2, echo: true, stream: true });
  const chunks: Json[] = [];
  for await (const c of stream) chunks.push(c);
  assert.ok(chunks[0].choices[0].text.startsWith(prompt));
  assert.ok(chunks.slice(1).every((c) => !c.choices[0].text.startsWith(prompt)));
});

// CompletionResponseChoice.prompt_logprobs: [None, {token_id: {logprob, rank, decoded_token}}, …].
test('prompt_logprobs lists each prompt token with its rank and the top alternatives', async () => {
  const r = await create({ prompt: 'rank my prompt tokens please', max_tokens: 1, prompt_logprobs: 2 });
  const pl = r.choices[0].prompt_logprobs;
  assert.equal(pl.length, r.usage.prompt_tokens);
  assert.equal(pl[0], null);
  for (const pos of pl.slice(1)) {
    const entries = Object.entries(pos) as [string, Json][];
    assert.ok(entries.length >= 2 && entries.length <= 3);
    assert.ok(entries.every(([id, e]) => /^-?\d+$/.test(id) && e.logprob <= 0 && e.rank >= 1 && typeof e.decoded_token === 'string'));
    const ranked = entries.map(([, e]) => e).sort((a: Json, b: Json) => a.rank - b.rank);
    for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i].logprob <= ranked[i - 1].logprob);
  }
});

// CompletionRequest.check_logprobs: −1 passes the protocol check but expands to the vocabulary,
// which the --max-logprobs check refuses; other negatives and streaming are refused outright.
test('prompt_logprobs -1, below -1, or with stream is a 400', async () => {
  const all = await badRequest({ prompt: 'x', max_tokens: 1, prompt_logprobs: -1 });
  assert.match(all.message, /Requested prompt logprobs of \d+, which is greater than max allowed: 20/);
  assert.match((await badRequest({ prompt: 'x', max_tokens: 1, prompt_logprobs: -2 })).message, /`prompt_logprobs` must be a positive value or -1/);
  const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 1, prompt_logprobs: 1, stream: true });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /`prompt_logprobs` are not available when `stream=True`/);
});

// CompletionRequest.validate_stream_options.
test('stream_options without stream is a 400', async () => {
  const e = await badRequest({ prompt: 'x', max_tokens: 1, stream_options: { include_usage: true } });
  assert.match(e.message, /Stream options can only be defined when `stream=True`\./);
  assert.equal((e.error as Json).param, 'stream_options');
});

// SamplingParams._verify_args and CompletionRequest validators.
test('n < 1, max_tokens < 1 (without echo), an empty prompt and an empty cache_salt are 400s', async () => {
  assert.match((await badRequest({ prompt: 'x', n: 0 })).message, /n must be at least 1, got 0\./);
  assert.match((await badRequest({ prompt: 'x', max_tokens: 0 })).message, /max_tokens must be at least 1, got 0\./);
  assert.match((await badRequest({ prompt: '' })).message, /Either prompt or prompt_embeds must be provided and non-empty\./);
  assert.match((await badRequest({ prompt: 'x', cache_salt: '' })).message, /Parameter 'cache_salt' must be a non-empty string if provided\./);
  assert.match((await badRequest({ prompt: ['ok', ''] })).message, /prompt\[1\] must not be empty/);
});

// CompletionRequest.response_format: json_schema needs its json_schema object (400 since vLLM PR #35456).
test('response_format json_schema without a schema is a 400; with one it is served', async () => {
  const e = await badRequest({ prompt: 'x', max_tokens: 1, response_format: { type: 'json_schema' } });
  assert.equal((e.error as Json).param, 'response_format');
  const ok = await create({ prompt: 'x', max_tokens: 1, response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object' } } } });
  assert.equal(ok.choices.length, 1);
});

// api_server.py validate_json_request: only application/json bodies are accepted.
test('a non-JSON Content-Type is refused with vLLM\'s message', async () => {
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded']) {
    const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 1 }, { 'content-type': ct });
    assert.equal(r.status, 400, ct);
    assert.match(r.json.error.message, /Unsupported Media Type: Only 'application\/json' is allowed/);
  }
  const withCharset = await post(s, '/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 1 }, { 'content-type': 'application/json; charset=utf-8' });
  assert.equal(withCharset.status, 200);
});

// serving.py: a response's id is named after the X-Request-Id header when the client sends one.
test('the response id follows X-Request-Id, and the model is the first served name', async () => {
  const multi = await sim({ servedModelNames: ['first', 'alias'] });
  try {
    const r = await post(multi, '/v1/completions', { model: 'alias', prompt: 'x', max_tokens: 1 }, { 'x-request-id': 'abc123' });
    assert.equal(r.json.id, 'cmpl-abc123');
    assert.equal(r.json.model, 'first');
  } finally {
    await multi.close();
  }
});
