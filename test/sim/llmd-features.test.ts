// Behaviours only llm-d-inference-sim defines, each from its documentation (docs/api.md "Request
// headers", docs/kv-cache.md "Cache hit threshold", docs/http-endpoints.md, docs/configuration.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MODEL, sim, openai, post, sseEvents, metrics, type Json } from './helpers.js';
import { sampleValue } from '../helpers/prom-text.js';

// docs/api.md: X-Return-Error answers with that status; a non-integer value is a 400.
test('X-Return-Error returns the requested status; a non-integer value is a 400', async () => {
  const s = await sim();
  try {
    const r = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { 'x-return-error': '429' });
    assert.equal(r.status, 429);
    assert.match(r.json.error.message, /Simulated error triggered by X-Return-Error header \(code 429\)/);
    assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
    const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0, defaultHeaders: { 'X-Return-Error': '500' } });
    await assert.rejects(c.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 }), (e: unknown) => e instanceof OpenAI.InternalServerError);
    const bad = await post(s, '/v1/completions', { model: MODEL, prompt: 'x' }, { 'x-return-error': 'abc' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /Invalid X-Return-Error header value "abc"/);
    const emb = await post(s, '/v1/embeddings', { model: MODEL, input: 'x' }, { 'x-return-error': '429' });
    assert.equal(emb.status, 200, 'not honoured by /v1/embeddings');
  } finally {
    await s.close();
  }
});

// docs/kv-cache.md "Cache hit threshold": below the request's (or the global) threshold the answer
// comes at once, empty, with finish_reason cache_threshold; the header forces it.
test('cache_hit_threshold: a cold prompt gets finish_reason cache_threshold, a warm one is served', async () => {
  const s = await sim();
  try {
    const c = openai(s);
    const prompt = 'A long document everybody shares. '.repeat(20);
    const cold = (await c.completions.create({ model: MODEL, prompt, max_tokens: 5, cache_hit_threshold: 0.5 } as OpenAI.CompletionCreateParamsNonStreaming)) as Json;
    assert.equal(cold.choices[0].finish_reason, 'cache_threshold');
    assert.equal(cold.choices[0].text, '');
    assert.equal(cold.usage.completion_tokens, 0);
    assert.ok(cold.usage.prompt_tokens > 0);
    assert.equal(s.engine.stats().promptTokens, 0, 'nothing ran');
    await c.completions.create({ model: MODEL, prompt, max_tokens: 1 });
    const warm = (await c.completions.create({ model: MODEL, prompt, max_tokens: 5, cache_hit_threshold: 0.5 } as OpenAI.CompletionCreateParamsNonStreaming)) as Json;
    assert.equal(warm.choices[0].finish_reason, 'length');
    const forced = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true }, { 'x-cache-threshold-finish-reason': 'true' });
    const { events, done } = sseEvents(forced.text);
    assert.ok(done);
    assert.equal(events[events.length - 1].choices[0].finish_reason, 'cache_threshold');
    const { samples } = await metrics(s);
    assert.equal(sampleValue(samples, 'vllm:request_success_total', { finished_reason: 'cache_threshold' }), 2);
    assert.equal((await post(s, '/v1/completions', { model: MODEL, prompt: 'x', cache_hit_threshold: 2 })).status, 400);
  } finally {
    await s.close();
  }
  const g = await sim({ globalCacheHitThreshold: 0.9 });
  try {
    const r = await post(g, '/v1/completions', { model: MODEL, prompt: 'never seen before', max_tokens: 3 });
    assert.equal(r.json.choices[0].finish_reason, 'cache_threshold');
    const override = await post(g, '/v1/completions', { model: MODEL, prompt: 'never seen before', max_tokens: 3, cache_hit_threshold: 0 });
    assert.equal(override.json.choices[0].finish_reason, 'length', 'the request\'s threshold wins over the global one');
  } finally {
    await g.close();
  }
});

// docs/http-endpoints.md: /sleep needs --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1 (else 200,
// ignored); sleeping discards the KV cache; /wake_up with no tags or tags=kv_cache restores it.
// vLLM: vllm:engine_sleep_state{sleep_state=awake|weights_offloaded|discard_all}.
test('sleep mode: gated as llm-d-inference-sim, clears the cache, shows in /is_sleeping and the metric', async () => {
  const off = await sim({ enableSleepMode: true });
  try {
    assert.equal((await post(off, '/sleep', '')).status, 200);
    assert.deepEqual(await (await fetch(`${off.url}/is_sleeping`)).json(), { is_sleeping: false }, 'without VLLM_SERVER_DEV_MODE: ignored');
  } finally {
    await off.close();
  }
  const s = await sim({ enableSleepMode: true, vllmServerDevMode: true });
  try {
    const prompt = 'a prompt to cache '.repeat(20);
    await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 1 });
    assert.equal((await fetch(`${s.url}/sleep?level=2`, { method: 'POST' })).status, 200);
    assert.deepEqual(await (await fetch(`${s.url}/is_sleeping`)).json(), { is_sleeping: true });
    let { samples } = await metrics(s);
    assert.equal(sampleValue(samples, 'vllm:engine_sleep_state', { sleep_state: 'discard_all' }), 1);
    assert.equal(sampleValue(samples, 'vllm:engine_sleep_state', { sleep_state: 'awake' }), 0);
    const asleep = await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 1 });
    assert.equal(asleep.json.usage.prompt_tokens_details.cached_tokens, 0);
    await fetch(`${s.url}/wake_up?tags=weights`, { method: 'POST' });
    assert.deepEqual(await (await fetch(`${s.url}/is_sleeping`)).json(), { is_sleeping: false });
    await fetch(`${s.url}/wake_up?tags=kv_cache`, { method: 'POST' });
    await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 1 });
    const warm = await post(s, '/v1/completions', { model: MODEL, prompt, max_tokens: 1 });
    assert.ok(warm.json.usage.prompt_tokens_details.cached_tokens > 0);
    ({ samples } = await metrics(s));
    assert.equal(sampleValue(samples, 'vllm:engine_sleep_state', { sleep_state: 'awake' }), 1);
    assert.equal((await fetch(`${s.url}/sleep?level=3`, { method: 'POST' })).status, 400);
  } finally {
    await s.close();
  }
});

// docs/http-endpoints.md /v1/embeddings: input forms, dimensions, encoding_format float | base64.
test('/v1/embeddings returns unit vectors as floats or base64, deterministic per input', async () => {
  const s = await sim({ defaultEmbeddingDimensions: 16 });
  try {
    const c = openai(s);
    const r = await c.embeddings.create({ model: MODEL, input: ['first text', 'second text'], encoding_format: 'float' });
    assert.equal(r.object, 'list');
    assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
    assert.equal(r.data[0].embedding.length, 16);
    assert.ok(Math.abs(r.data[0].embedding.reduce((a, x) => a + x * x, 0) - 1) < 1e-5);
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens);
    const again = await c.embeddings.create({ model: MODEL, input: 'first text', dimensions: 16, encoding_format: 'float' });
    assert.deepEqual(again.data[0].embedding, r.data[0].embedding);
    const b64 = await post(s, '/v1/embeddings', { model: MODEL, input: 'first text', encoding_format: 'base64', dimensions: 8 });
    const buf = Buffer.from(b64.json.data[0].embedding, 'base64');
    assert.equal(buf.length, 32, '8 little-endian float32');
    assert.equal((await post(s, '/v1/embeddings', { model: MODEL, input: [] })).status, 400);
    assert.equal((await post(s, '/v1/embeddings', { model: 'nope', input: 'x' })).status, 404);
  } finally {
    await s.close();
  }
});

// docs/http-endpoints.md render endpoints: token ids without generation; LoRA adapters refused.
test('render endpoints return token ids; a LoRA adapter is refused, an unknown model is a 404', async () => {
  const s = await sim({ loraModules: [{ name: 'sql', path: '/sql' }] });
  try {
    const text = await post(s, '/v1/completions/render', { model: MODEL, prompt: ['abcdefgh', 'ijkl'] });
    assert.equal(text.status, 200);
    assert.deepEqual(text.json.map((p: Json) => p.token_ids.length), [2, 1]);
    const ids = await post(s, '/v1/completions/render', { model: MODEL, prompt: [[5, 6, 7], [8]] });
    assert.deepEqual(ids.json, [{ token_ids: [5, 6, 7] }, { token_ids: [8] }], 'token-id prompts come back verbatim');
    const chat = await post(s, '/v1/chat/completions/render', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    const tok = await post(s, '/tokenize', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(chat.json.token_ids, tok.json.tokens);
    const lora = await post(s, '/v1/completions/render', { model: 'sql', prompt: 'x' });
    assert.equal(lora.status, 400);
    assert.match(lora.json.error.message, /is a LoRA adapter and is not supported by the render endpoints/);
    assert.equal((await post(s, '/v1/completions/render', { model: 'nope', prompt: 'x' })).status, 404);
    assert.equal(s.engine.stats().promptTokens, 0, 'nothing generated');
  } finally {
    await s.close();
  }
});

// docs/configuration.md env vars and docs/api.md headers: POD_NAME → x-inference-pod (with
// x-inference-port), POD_NAMESPACE → x-inference-namespace; --enable-request-id-headers echoes X-Request-Id.
test('pod, namespace and request-id response headers', async () => {
  const s = await sim({ podName: 'sim-0', podNamespace: 'team-a', enableRequestIdHeaders: true });
  try {
    const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 1 }, { 'x-request-id': 'req-42' });
    assert.equal(r.headers.get('x-inference-pod'), 'sim-0');
    assert.equal(r.headers.get('x-inference-namespace'), 'team-a');
    assert.equal(r.headers.get('x-inference-port'), String(s.port));
    assert.equal(r.headers.get('x-request-id'), 'req-42');
    const gen = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1, stream: true });
    assert.ok((gen.headers.get('x-request-id') ?? '').length > 0, 'a fresh id when none was sent');
  } finally {
    await s.close();
  }
  const plain = await sim();
  try {
    const r = await post(plain, '/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 1 }, { 'x-request-id': 'req-42' });
    assert.equal(r.headers.get('x-request-id'), null, 'off by default');
    assert.equal(r.headers.get('x-inference-pod'), null);
  } finally {
    await plain.close();
  }
});

// docs/configuration.md max-waiting-queue-length, simulator.go's 429 "Failed to enqueue request".
test('--max-waiting-queue-length answers 429 once the queue is full', async () => {
  const s = await sim({ maxNumSeqs: 1, maxWaitingQueueLength: 1, interTokenLatency: 20 });
  try {
    const first = post(s, '/v1/completions', { model: MODEL, prompt: 'one', max_tokens: 40 });
    const second = post(s, '/v1/completions', { model: MODEL, prompt: 'two', max_tokens: 40 });
    const waitForQueue = async () => {
      for (let i = 0; i < 500 && s.engine.stats().waiting < 1; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await waitForQueue();
    const third = await post(s, '/v1/completions', { model: MODEL, prompt: 'three', max_tokens: 1 });
    assert.equal(third.status, 429);
    assert.match(third.json.error.message, /Failed to enqueue request, waiting requests queue is full/);
    assert.deepEqual([(await first).status, (await second).status], [200, 200]);
  } finally {
    await s.close();
  }
});
