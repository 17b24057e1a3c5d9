// Conformance of /v1/chat/completions with vLLM's OpenAI server. Each case names where vLLM defines
// the behaviour: vllm/entrypoints/openai/chat_completion/protocol.py (ChatCompletionRequest
// validators) and chat_completion/serving.py (responses, streams, logprobs).
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

const user = (content: string) => [{ role: 'user' as const, content }];
type Params = OpenAI.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;
const create = (p: Record<string, unknown>) => client.chat.completions.create({ model: MODEL, messages: user('Hello'), ...p } as Params) as Promise<Json>;

async function badRequest(p: Record<string, unknown>): Promise<InstanceType<typeof OpenAI.BadRequestError>> {
  const err = await create(p).then(
    () => assert.fail('expected a 400'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  return err as InstanceType<typeof OpenAI.BadRequestError>;
}

// serving.py: n choices of one conversation.
test('n returns n assistant messages', async () => {
  const r = await create({ max_tokens: 3, n: 2 });
  assert.deepEqual(r.choices.map((c: Json) => c.index), [0, 1]);
  assert.ok(r.choices.every((c: Json) => c.message.role === 'assistant' && c.message.content.length > 0));
  assert.equal(r.usage.completion_tokens, 6);
});

// ChatCompletionLogProbs: content[i] = {token, logprob, bytes, top_logprobs[top_logprobs]}.
test('logprobs with top_logprobs returns sorted alternatives with UTF-8 bytes', async () => {
  const r = await create({ max_tokens: 5, logprobs: true, top_logprobs: 4 });
  const c = r.choices[0];
  const content = c.logprobs.content;
  assert.equal(content.length, 5);
  assert.equal(content.map((e: Json) => e.token).join(''), c.message.content);
  for (const e of content) {
    assert.ok(e.logprob <= 0);
    assert.deepEqual(e.bytes, [...Buffer.from(e.token, 'utf8')]);
    assert.equal(e.top_logprobs.length, 4);
    assert.equal(e.top_logprobs[0].token, e.token);
    const vals = e.top_logprobs.map((t: Json) => t.logprob);
    assert.deepEqual(vals, [...vals].sort((a: number, b: number) => b - a));
    assert.equal(new Set(e.top_logprobs.map((t: Json) => t.token)).size, 4, 'distinct alternatives');
    assert.ok(e.top_logprobs.every((t: Json) => t.logprob <= 0 && Array.isArray(t.bytes)));
  }
  const plain = await create({ max_tokens: 2, logprobs: true });
  assert.ok(plain.choices[0].logprobs.content.every((e: Json) => e.top_logprobs.length === 0), 'top_logprobs defaults to 0');
  assert.equal((await create({ max_tokens: 2 })).choices[0].logprobs, null);
});

test('streamed chat chunks carry each token\'s logprobs; the last token\'s chunk carries the finish reason', async () => {
  const stream = await client.chat.completions.create({ model: MODEL, messages: user('stream'), max_tokens: 3, logprobs: true, top_logprobs: 2, stream: true });
  const chunks: Json[] = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const tokens = chunks.slice(1);
  assert.equal(tokens.length, 3);
  assert.ok(tokens.every((c) => c.choices[0].delta.content.length > 0 && c.choices[0].logprobs.content.length === 1));
  assert.equal(tokens[2].choices[0].finish_reason, 'length');
});

// ChatCompletionRequest.check_logprobs and SamplingParams._validate_logprobs (--max-logprobs 20).
test('top_logprobs over 20, without logprobs, or below -1 is a 400', async () => {
  const over = await badRequest({ max_tokens: 1, logprobs: true, top_logprobs: 21 });
  assert.match(over.message, /Requested sample logprobs of 21, which is greater than max allowed: 20/);
  assert.equal((over.error as Json).param, 'logprobs');
  const off = await badRequest({ max_tokens: 1, top_logprobs: 2 });
  assert.match(off.message, /when using `top_logprobs`, `logprobs` must be set to true\./);
  assert.match((await badRequest({ max_tokens: 1, logprobs: true, top_logprobs: -2 })).message, /`top_logprobs` must be a positive value or -1\./);
});

test('stream_options without stream, and json_schema without a schema, are 400s', async () => {
  assert.match((await badRequest({ max_tokens: 1, stream_options: { include_usage: true } })).message, /Stream options can only be defined when `stream=True`\./);
  const rf = await badRequest({ max_tokens: 1, response_format: { type: 'json_schema' } });
  assert.equal((rf.error as Json).param, 'response_format');
  const ok = await create({ max_tokens: 1, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } });
  assert.equal(ok.choices.length, 1);
});

// The protocol's typed fields (pydantic: model a string, temperature a float) and
// SamplingParams._verify_args (temperature >= 0, top_p in (0, 1]): vLLM answers 400 BadRequestError.
test('a non-numeric or negative temperature, top_p outside (0, 1], and a non-string model are 400s', async () => {
  const shape = (e: InstanceType<typeof OpenAI.BadRequestError>, param: string) => {
    assert.equal(e.status, 400);
    assert.deepEqual(Object.keys(e.error as Json).sort(), ['code', 'message', 'param', 'type']);
    assert.equal((e.error as Json).param, param);
  };
  const hot = await badRequest({ max_tokens: 1, temperature: 'hot' });
  shape(hot, 'temperature');
  assert.match(hot.message, /temperature must be a number/);
  const cold = await badRequest({ max_tokens: 1, temperature: -3 });
  shape(cold, 'temperature');
  assert.match(cold.message, /temperature must be non-negative, got -3\./);
  const topP = await badRequest({ max_tokens: 1, top_p: 5 });
  shape(topP, 'top_p');
  assert.match(topP.message, /top_p must be in \(0, 1\], got 5\./);
  const model = await post(s, '/v1/chat/completions', { model: 123, messages: user('Hello'), max_tokens: 1 });
  assert.equal(model.status, 400);
  assert.equal(model.json.error.param, 'model');
  assert.match(model.json.error.message, /model must be a string/);
  // The edges vLLM accepts.
  for (const p of [{ temperature: 0 }, { top_p: 1 }, { temperature: 2, top_p: 0.01 }]) assert.equal((await create({ max_tokens: 1, ...p })).choices.length, 1, JSON.stringify(p));
});

// vLLM's CustomChatCompletionMessageParam ("Enables custom roles in the Chat Completion API"):
// role is any string and content is optional, so neither is a 400 there; the simulator agrees.
test('a custom role and a message without content are accepted, as vLLM accepts them', async () => {
  const wizard = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'wizard', content: 'abracadabra' }, { role: 'user', content: 'hi' }], max_tokens: 1 });
  assert.equal(wizard.status, 200, wizard.text);
  const empty = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user' }], max_tokens: 1 });
  assert.equal(empty.status, 200, empty.text);
  const noRole = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ content: 'hi' }], max_tokens: 1 });
  assert.equal(noRole.status, 400, 'role is required');
});

// ChatCompletionRequest.check_generation_prompt.
test('continue_final_message with add_generation_prompt true is a 400', async () => {
  const e = await badRequest({ max_tokens: 1, continue_final_message: true, add_generation_prompt: true });
  assert.match(e.message, /Cannot set both `continue_final_message` and `add_generation_prompt` to True\./);
});

// serving.py echo: the answer is prefixed with the last message when it has the answer's role
// (assistant under add_generation_prompt; the last message's own role without it).
test('echo prepends the last message only when it has the answer\'s role', async () => {
  const partial = 'The answer begins';
  const r = await create({ messages: [{ role: 'user', content: 'go on' }, { role: 'assistant', content: partial }], max_tokens: 3, echo: true });
  assert.ok(r.choices[0].message.content.startsWith(partial));
  const fromUser = await create({ messages: user('only a question'), max_tokens: 3, echo: true });
  assert.ok(!fromUser.choices[0].message.content.startsWith('only a question'));
  const own = await create({ messages: user('keep my words'), max_tokens: 3, echo: true, add_generation_prompt: false });
  assert.ok(own.choices[0].message.content.startsWith('keep my words'));
  const r2 = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'assistant', content: partial }], max_tokens: 2, echo: true, stream: true });
  const { events } = sseEvents(r2.text);
  assert.equal(events[0].choices[0].delta.role, 'assistant');
  assert.equal(events[1].choices[0].delta.content, partial, 'the echo follows the role chunk');
});

// StreamOptions.continuous_usage_stats on chat streams: every chunk, the role chunk included, and
// only with include_usage (vLLM: include_continuous_usage = include_usage and continuous_usage_stats).
test('continuous_usage_stats on a chat stream', async () => {
  const r = await post(s, '/v1/chat/completions', { model: MODEL, messages: user('usage'), max_tokens: 3, stream: true, stream_options: { continuous_usage_stats: true } });
  const { events, done } = sseEvents(r.text);
  assert.ok(done);
  const content = events.filter((e) => e.choices.length === 1);
  assert.deepEqual(content.map((e) => e.usage.completion_tokens), [0, 1, 2, 3]);
  const last = events.at(-1);
  assert.equal(last.choices.length, 0, 'include_usage (default true): the usage-only chunk at the end');
  assert.equal(last.usage.completion_tokens, 3);
  for (const off of [{ include_usage: false, continuous_usage_stats: true }, { include_usage: null }]) {
    const q = await post(s, '/v1/chat/completions', { model: MODEL, messages: user('usage'), max_tokens: 3, stream: true, stream_options: off });
    const x = sseEvents(q.text);
    assert.ok(x.done);
    assert.ok(x.events.every((e) => e.choices.length === 1 && e.usage == null), `${JSON.stringify(off)}: no usage anywhere`);
  }
});

// ChatCompletionResponse.prompt_logprobs (vLLM extension, top level for chat).
test('prompt_logprobs on chat comes back at the top level', async () => {
  const r = await create({ max_tokens: 1, prompt_logprobs: 1 });
  assert.equal(r.prompt_logprobs.length, r.usage.prompt_tokens);
  assert.equal(r.prompt_logprobs[0], null);
  assert.ok(Object.keys(r.prompt_logprobs[1]).length >= 1);
});

// vLLM skips the prefix cache for requests that want prompt logprobs (they need every position computed).
test('a request with prompt_logprobs reports no cached tokens', async () => {
  const messages = user('A long shared system prompt. '.repeat(30));
  await create({ messages, max_tokens: 1 });
  const warm = await create({ messages, max_tokens: 1 });
  assert.ok(warm.usage.prompt_tokens_details.cached_tokens > 0);
  const withLogprobs = await create({ messages, max_tokens: 1, prompt_logprobs: 0 });
  assert.equal(withLogprobs.usage.prompt_tokens_details.cached_tokens, 0);
});
