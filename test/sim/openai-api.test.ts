/* eslint-disable @typescript-eslint/no-explicit-any */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
let sim: RunningSim;
let client: OpenAI;

before(async () => {
  sim = await startSimServer({ port: 0, profile: 'instant' });
  client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => sim.close());

test('chat completion (non-stream) returns text, finish reason and usage with cached_tokens', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 5 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content!.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage!.completion_tokens, 5);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 5);
  assert.equal(r.usage!.prompt_tokens_details!.cached_tokens, 0);
});

test('completion (non-stream) of a repeated long prompt reports cached tokens', async () => {
  const prompt = 'A long shared document about routing. '.repeat(40);
  const first = await client.completions.create({ model: MODEL, prompt, max_tokens: 3 });
  const second = await client.completions.create({ model: MODEL, prompt, max_tokens: 3 });
  assert.equal(first.object, 'text_completion');
  assert.equal(first.usage!.completion_tokens, 3);
  const cached = (second.usage as { prompt_tokens_details?: { cached_tokens: number } }).prompt_tokens_details!.cached_tokens;
  assert.equal(cached, Math.floor((second.usage!.prompt_tokens - 1) / 16) * 16);
  assert.ok(cached > 300);
});

test('chat completion stream: role first, content deltas, finish reason, usage chunk, [DONE]', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Stream please' }],
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const content = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
  assert.ok(content.length > 0);
  assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'length').length, 1);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage!.completion_tokens, 4);
});

test('max_completion_tokens bounds a chat completion (and wins over max_tokens)', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 4, max_tokens: 9 });
  assert.equal(r.usage!.completion_tokens, 4);
  assert.equal(r.choices[0].finish_reason, 'length');
});

test('completion stream without stream_options sends no usage chunk', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 3, stream: true });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  // vLLM: one chunk per token; the last token's chunk carries the finish reason (no empty extra chunk).
  assert.equal(chunks.length, 3);
  assert.ok(chunks.every((c) => !c.usage));
  assert.ok(chunks.every((c) => c.choices[0].text.length > 0));
  assert.deepEqual(chunks.map((c) => c.choices[0].finish_reason), [null, null, 'length']);
});

test('echo mode repeats the last user message', async () => {
  const echo = await startSimServer({ port: 0, profile: 'instant', mode: 'echo' });
  try {
    const c = new OpenAI({ baseURL: `${echo.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'repeat after me' }], max_tokens: 50 });
    assert.equal(r.choices[0].message.content, 'repeat after me');
    assert.equal(r.choices[0].finish_reason, 'stop');
    // ignore_eos (a vLLM extension the openai client passes through) runs on to max_tokens.
    const more = await c.completions.create({ model: MODEL, prompt: 'repeat after me', max_tokens: 12, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.equal(more.choices[0].finish_reason, 'length');
    assert.equal(more.usage!.completion_tokens, 12);
    assert.ok(more.choices[0].text.startsWith('repeat after me') && more.choices[0].text.length > 'repeat after me'.length, more.choices[0].text);
  } finally {
    await echo.close();
  }
});

test('/v1/models lists the served names in vLLM\'s ModelCard shape', async () => {
  const multi = await startSimServer({ port: 0, profile: 'instant', servedModelNames: ['a', 'b'], maxModelLen: 4096 });
  try {
    const c = new OpenAI({ baseURL: `${multi.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const models = [];
    for await (const m of c.models.list()) models.push(m as unknown as Record<string, unknown>);
    assert.deepEqual(models.map((m) => m.id), ['a', 'b']);
    assert.equal(models[0].owned_by, 'vllm');
    assert.equal(models[0].root, MODEL);
    assert.equal(models[0].max_model_len, 4096);
  } finally {
    await multi.close();
  }
});

test('/health, /version and /tokenize answer as vLLM', async () => {
  const h = await fetch(`${sim.url}/health`);
  assert.equal(h.status, 200);
  assert.equal(await h.text(), '');
  const v = (await (await fetch(`${sim.url}/version`)).json()) as any;
  assert.match(v.version, /kvgate-sim/);
  const t = (await (await fetch(`${sim.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'abcdefgh' }) })).json()) as any;
  assert.deepEqual(Object.keys(t).sort(), ['count', 'max_model_len', 'token_strs', 'tokens']);
  assert.equal(t.count, 2);
});

test('a client that disconnects mid-stream aborts its request', async () => {
  const slow = await startSimServer({ port: 0, profile: 'instant', interTokenLatency: 20 });
  try {
    const ac = new AbortController();
    const res = await fetch(`${slow.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'x'.repeat(100), max_tokens: 1000, stream: true }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(slow.engine.stats().running, 1);
    ac.abort();
    for (let i = 0; i < 50 && slow.engine.stats().running > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(slow.engine.stats().running, 0);
    assert.equal(slow.engine.stats().kvCacheUsage, 0);
  } finally {
    await slow.close();
  }
});

test('a chat request\'s tools count as prompt tokens, as vLLM renders them into the chat template (and /tokenize counts the same)', async () => {
  const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Current weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const plain = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 1 });
  const withTools = await client.chat.completions.create({ model: MODEL, messages, tools, max_tokens: 1 });
  assert.ok(withTools.usage!.prompt_tokens > plain.usage!.prompt_tokens, `${withTools.usage!.prompt_tokens} > ${plain.usage!.prompt_tokens}`);
  const tokenize = async (body: object) => ((await (await fetch(`${sim.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages, ...body }) })).json()) as any).count;
  assert.equal(await tokenize({ tools }), withTools.usage!.prompt_tokens);
  assert.equal(await tokenize({}), plain.usage!.prompt_tokens);
});
