import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
let sim: RunningSim;
before(async () => {
  sim = await startSimServer({ port: 0, profile: 'instant', maxModelLen: 256, maxRequestBodyBytes: 64 * 1024 });
});
after(() => sim.close());

async function call(method: string, path: string, body?: string) {
  const r = await request(`${sim.url}${path}`, { method: method as 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await r.body.text();
  return { status: r.statusCode, json: text ? JSON.parse(text) : null };
}

function assertOpenAIError(json: { error: Record<string, unknown> }) {
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof json.error.message, 'string');
}

const cases: [string, string, string, string | undefined, number, RegExp, string | null][] = [
  ['invalid JSON', 'POST', '/v1/completions', '{"model": ', 400, /invalid JSON/, null],
  ['a body that is not an object', 'POST', '/v1/completions', '[1,2]', 400, /JSON object/, null],
  ['missing model', 'POST', '/v1/completions', JSON.stringify({ prompt: 'hi' }), 400, /'model'/, 'model'],
  ['unknown model', 'POST', '/v1/chat/completions', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), 404, /does not exist/, 'model'],
  ['messages not an array', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: 'hi' }), 400, /messages/, 'messages'],
  ['a message content that is neither text nor content parts', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: { text: 'hi' } }] }), 400, /messages\[0\]\.content/, 'messages'],
  // vLLM's chat parser (chat_utils.py) refuses a content part it has no parser for, naming the type.
  ['a content part of an unknown type', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'weird', x: 1 }] }] }), 400, /^Unsupported chat content part type: 'weird'\. Supported types: audio_embeds, .*, video_url\.$/, 'type'],
  ['a content part of an unknown type on /tokenize', 'POST', '/tokenize', JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] }), 400, /Unsupported chat content part type: 'file'/, 'type'],
  ['a content part whose type is not a string', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: [{ type: 5, text: 'a' }] }] }), 400, /Invalid 'type' field in multimodal part/, 'type'],
  ['a content part with no type and no media key', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: [{ text: 'a' }] }] }), 400, /Missing 'type' field in multimodal part/, 'type'],
  ['a message name that is not a string', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x', name: 5 }] }), 400, /messages\[0\]\.name must be a string/, 'messages'],
  ['message tool_calls that are not a list', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'assistant', content: null, tool_calls: 5 }, { role: 'user', content: 'x' }] }), 400, /messages\[0\]\.tool_calls must be a list/, 'messages'],
  // vLLM's check_tool_usage (protocol.py) and its seed bounds (torch.long's range).
  ['tool_choice without tools', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' }), 400, /^When using `tool_choice`, `tools` must be set\.$/, 'tool_choice'],
  ['a tool_choice vLLM does not know', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: [], tool_choice: 'always' }), 400, /Invalid value for `tool_choice`: always! Only named tools, "none", "auto" or "required" are supported\./, 'tool_choice'],
  ['tools that are not a list', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], tools: 5 }), 400, /tools must be a list/, 'tools'],
  ['a seed beyond a 64-bit integer', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', seed: 1e30 }), 400, /seed must be a 64-bit integer/, 'seed'],
  ['a seed below a 64-bit integer', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', seed: '-9223372036854775809000' }), 400, /seed must be a 64-bit integer/, 'seed'],
  ['a negative max_tokens', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: -1 }), 400, /max_tokens/, 'max_tokens'],
  ['a stream pydantic cannot read as a bool', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', stream: 'maybe' }), 400, /stream must be a boolean/, 'stream'],
  ['a prompt longer than max_model_len', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'word '.repeat(400) }), 400, /maximum context length is 256 tokens/, 'prompt'],
  ['prompt plus max_tokens over max_model_len', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 300 }), 400, /you requested 301 tokens/, 'max_tokens'],
  ['a body over the limit', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'x'.repeat(70 * 1024) }), 413, /limit/, null],
  ['a top_k below -1', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', top_k: -5 }), 400, /top_k must be -1 or 0 \(disable\), or at least 1, got -5/, 'top_k'],
  ['a non-integer top_k', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], top_k: 'x' }), 400, /top_k must be an integer/, 'top_k'],
  ['a negative min_tokens', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', min_tokens: -1 }), 400, /min_tokens must be greater than or equal to 0/, 'min_tokens'],
  ['min_tokens above max_tokens', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', min_tokens: 10, max_tokens: 5 }), 400, /min_tokens must be less than or equal to max_tokens=5, got 10/, 'min_tokens'],
  ['a logit_bias that is not an object', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', logit_bias: 5 }), 400, /logit_bias must be an object/, 'logit_bias'],
  ['a logit_bias keyed by a non-integer', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', logit_bias: { x: 5 } }), 400, /token id "x" must be an integer/, 'logit_bias'],
  ['a non-string user', 'POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], user: 5 }), 400, /user must be a string/, 'user'],
  ['truncate_prompt_tokens below -1', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', truncate_prompt_tokens: -3 }), 400, /truncate_prompt_tokens must be -1 or greater/, 'truncate_prompt_tokens'],
  ['a token-id prompt beyond the vocabulary', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: [1, 99_999_999_999] }), 400, /Token id 99999999999 is out of vocabulary/, 'prompt'],
  ['a batch with one token-id prompt beyond the vocabulary', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: [[1, 2], [151_936]] }), 400, /Token id 151936 is out of vocabulary/, 'prompt'],
  ['a completions suffix', 'POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', suffix: 'x' }), 400, /suffix is not currently supported/, 'suffix'],
  ['/tokenize naming an unknown model', 'POST', '/tokenize', JSON.stringify({ model: 'nope', prompt: 'hi' }), 404, /The model `nope` does not exist/, 'model'],
  ['/detokenize naming an unknown model', 'POST', '/detokenize', JSON.stringify({ model: 'nope', tokens: [1, 2] }), 404, /The model `nope` does not exist/, 'model'],
  ['/tokenize with a non-string model', 'POST', '/tokenize', JSON.stringify({ model: 5, prompt: 'hi' }), 400, /model must be a string/, 'model'],
  ['/tokenize with an add_special_tokens pydantic cannot read as a bool', 'POST', '/tokenize', JSON.stringify({ model: MODEL, prompt: 'hi', add_special_tokens: 'nope' }), 400, /add_special_tokens must be a boolean/, 'add_special_tokens'],
  ['/tokenize with a return_token_strs pydantic cannot read as a bool', 'POST', '/tokenize', JSON.stringify({ model: MODEL, prompt: 'hi', return_token_strs: 2 }), 400, /return_token_strs must be a boolean/, 'return_token_strs'],
  ['a bad admin config', 'POST', '/admin/config', JSON.stringify({ failure_injection_rate: 500 }), 400, /failure_injection_rate/, 'failure_injection_rate'],
];

for (const [name, method, path, body, status, msg, param] of cases) {
  test(`${name} → ${status} with an OpenAI error body`, async () => {
    const r = await call(method, path, body);
    assert.equal(r.status, status);
    assertOpenAIError(r.json);
    assert.match(r.json.error.message, msg);
    if (param) assert.equal(r.json.error.param, param);
  });
}

// vLLM's FastAPI app answers paths and methods it has no route for itself, not with an OpenAI body:
// a generative model registers no pooling routes (/score, /rerank…), so they are unknown paths.
test('unknown paths, the pooling routes of a generative model, and wrong methods are answered as vLLM\'s FastAPI app answers them', async () => {
  for (const path of ['/v2/nothing', '/score', '/v1/score', '/rerank', '/v1/rerank', '/v2/rerank', '/pooling', '/classify']) {
    const r = await request(`${sim.url}${path}`, { method: 'POST', body: JSON.stringify({ model: MODEL, query: 'q', documents: ['a'] }), headers: { 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 404, path);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(await r.body.text(), '{"detail":"Not Found"}', path);
  }
  const get = await request(`${sim.url}/v1/completions`);
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.equal(await get.body.text(), '{"detail":"Method Not Allowed"}');
  // FastAPI (unlike plain Starlette) does not add HEAD to GET routes.
  const head = await request(`${sim.url}/health`, { method: 'HEAD' });
  assert.equal(head.statusCode, 405);
  assert.equal(head.headers.allow, 'GET');
  await head.body.dump();
  // Starlette's redirect_slashes: a trailing slash on a known route is a 307 to the route.
  const slash = await request(`${sim.url}/v1/models/?x=1`);
  assert.equal(slash.statusCode, 307);
  assert.equal(slash.headers.location, `${sim.url}/v1/models?x=1`);
  await slash.body.dump();
});

test('after every bad request the server still serves and its metrics stay consistent', async () => {
  const ok = await call('POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'still alive', max_tokens: 2 }));
  assert.equal(ok.status, 200);
  const { samples } = parsePromText(await (await fetch(`${sim.url}/metrics`)).text());
  const L = { model_name: MODEL, engine: '0' };
  assert.equal(sampleValue(samples, 'vllm:num_requests_running', L), 0);
  assert.equal(sampleValue(samples, 'vllm:num_requests_waiting', L), 0);
  assert.equal(sampleValue(samples, 'vllm:request_success_total', { ...L, finished_reason: 'length' }), 1);
});

test('/tokenize and /detokenize take no model (the served one), the served name, or a loaded adapter, as vLLM', async () => {
  for (const model of [undefined, MODEL]) {
    const t = await call('POST', '/tokenize', JSON.stringify({ model, prompt: 'hello world' }));
    assert.equal(t.status, 200);
    assert.ok(t.json.tokens.length > 0);
    const d = await call('POST', '/detokenize', JSON.stringify({ model, tokens: t.json.tokens }));
    assert.equal(d.status, 200);
    assert.equal(typeof d.json.prompt, 'string'); // the estimate tokenizer's ids are hashes: no round trip to the text
  }
});

test('content parts vLLM accepts: plain strings (text), typed text and media parts, a typeless image_url', async () => {
  const parts = (content: unknown) => call('POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 1 }));
  const asText = await parts('hello there');
  const asStrings = await parts(['hello there']);
  assert.equal(asStrings.status, 200, JSON.stringify(asStrings.json));
  // A string part is text: the same prompt as the same text sent as a string.
  assert.equal(asStrings.json.usage.prompt_tokens, asText.json.usage.prompt_tokens);
  for (const content of [[{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'http://x/a.png' } }], [{ image_url: 'http://x/a.png' }], [{ type: 'input_text', text: 'a' }, 'b']]) {
    const r = await parts(content);
    assert.equal(r.status, 200, JSON.stringify(content));
  }
});

test('tool fields vLLM takes still pass: tools with auto, required, none or a named tool; tool_choice none or null without tools', async () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
  for (const extra of [{ tools }, { tools, tool_choice: 'auto' }, { tools, tool_choice: 'required' }, { tools, tool_choice: { type: 'function', function: { name: 'f' } } }, { tool_choice: 'none' }, { tool_choice: null }, { tools: null }]) {
    const r = await call('POST', '/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...extra }));
    assert.equal(r.status, 200, JSON.stringify(extra));
  }
});

test('valid sampling extras still pass: top_k -1/0/40, min_tokens <= max_tokens, logit_bias by token id, user', async () => {
  for (const extra of [{ top_k: -1 }, { top_k: 0 }, { top_k: 40 }, { min_tokens: 2, max_tokens: 2 }, { logit_bias: { '42': -100, '7': 3.5 } }, { user: 'u-1' }, { truncate_prompt_tokens: -1 }, { seed: -1 }, { seed: 2 ** 62 }]) {
    const r = await call('POST', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2, ...extra }));
    assert.equal(r.status, 200, JSON.stringify(extra));
  }
});
