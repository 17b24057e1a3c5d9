// Replicas that serve the same model with different --max-model-len (vLLM's max_model_len in
// /v1/models): a request goes only to replicas whose window it fits, by vLLM's rule (the prompt
// leaves room for one token; prompt + max_tokens fits when max_tokens is given), through the
// gateway and the EPP alike. One that fits nowhere reaches the largest replica, whose own 400 the
// client gets. Real `kvgate sim` replicas on loopback; the official openai client on the gateway.
// The large replica is the busy one (mixed-windows.ts): without the context-fit filter the router
// would pick a small replica first, so each test below fails when the filter is gone — the EPP's
// pick lands on a small window, the gateway fails over from a small replica's 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { parseModelList } from '../../src/datalayer/endpoint-health.js';
import { mixedWindowFleet, refusalsIn, SMALL_WINDOW as SMALL, LARGE_WINDOW as LARGE } from '../helpers/mixed-windows.js';

const MODEL = 'org/a';

let fleet: Awaited<ReturnType<typeof mixedWindowFleet>>;
let env: typeof fleet.env;
let client: OpenAI;
/** Endpoint id (host:port) of the one replica with the large window, and of the two small ones. */
let large: string;
let smalls: string[];
/** The replicas whose 400 the gateway failed over from so far. */
const refusedBy = () => refusalsIn(fleet.gatewayLog);

before(async () => {
  fleet = await mixedWindowFleet(MODEL);
  ({ env, large, smalls } = fleet);
  client = new OpenAI({ baseURL: `${env.gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await fleet?.close();
});

/** A prompt of about `tokens` tokens by the sim's estimate (4 characters each, no newlines) and the router's. */
const promptOf = (tag: string, tokens: number) => `${tag} `.padEnd(8, '.') + 'abcd'.repeat(tokens - 2);

test('the pool learns each replica\'s max_model_len from /v1/models (a non-positive or non-integer one is no window)', () => {
  for (const r of [env.gw.router, env.epp.router]) {
    const byId = new Map(r.datastore.list().map((e) => [e.info.id, e.models?.[0]?.maxModelLen]));
    assert.equal(byId.get(large), LARGE);
    assert.deepEqual([...byId.values()].sort(), [LARGE, SMALL, SMALL]);
  }
  const parsed = parseModelList({ data: [{ id: 'a', max_model_len: 0 }, { id: 'b', max_model_len: 1.5 }, { id: 'c', max_model_len: '4096' }, { id: 'd', max_model_len: 2048 }] });
  assert.deepEqual(parsed.map((m) => m.maxModelLen), [undefined, undefined, undefined, 2048]);
});

test('gateway (openai client): a prompt over the small replicas\' window goes first to the replica it fits (no small replica refuses it on the way), completions and chat, stream or not', async () => {
  const before = refusedBy().length;
  for (let i = 0; i < 8; i++) {
    const prompt = promptOf(`c${i}`, 6000); // over 4,096, under 32,768
    const { data, response } = await client.completions.create({ model: MODEL, prompt, max_tokens: 4 }).withResponse();
    assert.equal(data.usage!.prompt_tokens, 6000, 'the router\'s estimate is the engine\'s count here');
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `completion ${i}`);
  }
  for (let i = 0; i < 4; i++) {
    const { data: stream, response } = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: promptOf(`s${i}`, 5000) }], max_tokens: 3, stream: true }).withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `chat stream ${i}`);
  }
  assert.deepEqual(refusedBy().slice(before), [], 'no request was sent to a window it does not fit (the gateway failed over from these)');
});

test('gateway: max_tokens counts as vLLM counts it — a 3,000-token prompt with max_tokens 2,000 goes first to the large window, without max_tokens to the idle small replicas', async () => {
  const before = refusedBy().length;
  for (let i = 0; i < 6; i++) {
    const { response } = await client.completions.create({ model: MODEL, prompt: promptOf(`m${i}`, 3000), max_tokens: 2000 }).withResponse();
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `max_tokens ${i}`);
  }
  // max_completion_tokens is the same field for chat (vLLM reads either).
  const { response: chat } = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: promptOf('mct', 3000) }], max_completion_tokens: 2000 }).withResponse();
  assert.equal(chat.headers.get('x-gateway-destination-endpoint-served'), large);
  assert.deepEqual(refusedBy().slice(before), [], 'no request was sent to a window prompt + max_tokens does not fit');
  // Without max_tokens the prompt alone is checked: it fits the small replicas, which the router
  // prefers to the busy large one.
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${env.gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: promptOf(`n${i}`, 3000) }) });
    assert.equal(r.status, 200, await r.text());
    const served = r.headers.get('x-gateway-destination-endpoint-served')!;
    assert.ok(smalls.includes(served), `a prompt that fits everywhere went to ${served}, not an idle small replica`);
  }
});

test('gateway (openai client): a prompt that fits no replica gets vLLM\'s 400 from the largest one, sent there first', async () => {
  const before = refusedBy().length;
  for (let i = 0; i < 4; i++) {
    const err = await client.completions.create({ model: MODEL, prompt: promptOf(`x${i}`, 40_000), max_tokens: 4 }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, new RegExp(`maximum context length is ${LARGE} tokens`), 'the largest replica answered');
    assert.equal(err.headers?.get('x-gateway-destination-endpoint-served'), large);
  }
  const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: promptOf('xc', 30_000) }], max_tokens: 5000 }).catch((e: unknown) => e);
  assert.ok(chat instanceof OpenAI.BadRequestError, String(chat));
  assert.match(chat.message, new RegExp(`maximum context length is ${LARGE} tokens.*in the completion`), 'prompt + max_tokens over the largest window');
  assert.deepEqual(refusedBy().slice(before), [], 'no small replica was tried first');
});

test('EPP: the same choice — long prompts to the replica they fit, one that fits nowhere to the largest, whose 400 the client gets', async () => {
  for (let i = 0; i < 8; i++) {
    const r = await env.envoy('/v1/completions', { model: MODEL, prompt: promptOf(`e${i}`, 6000), max_tokens: 4 });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.destination, large, `EPP ${i}`);
  }
  const r = await env.envoy('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: promptOf('ec', 3000) }], max_tokens: 2000 });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.destination, large);
  const over = await env.envoy('/v1/completions', { model: MODEL, prompt: promptOf('ex', 40_000), max_tokens: 4 });
  assert.equal(over.status, 400);
  assert.equal(over.destination, large);
  assert.match(JSON.parse(over.body.toString()).error.message, new RegExp(`maximum context length is ${LARGE} tokens`));
});

test('gateway: a prompt the router\'s estimate undercounts (newline-heavy: one token a character) is refused by a small replica and retried on the large one, where it fits', async () => {
  const retries = () => refusedBy().length;
  for (let i = 0; i < 6; i++) {
    const before = retries();
    // 12,000 newlines: the sim counts 12,000 tokens, the router's estimate ~3,000 (fits 4,096).
    const { data, response } = await client.completions.create({ model: MODEL, prompt: `u${i}${'\n'.repeat(12_000)}`, max_tokens: 4 }).withResponse();
    assert.ok(data.usage!.prompt_tokens >= 12_000, 'the engine\'s count is far above the estimate');
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `newline prompt ${i}`);
    const refused = refusedBy().slice(before);
    assert.ok(refused.length === 1 && smalls.includes(refused[0]), `newline prompt ${i}: refused once by a small replica first (its estimate fits there), not ${JSON.stringify(refused)}`);
  }
  // A 400 for a short request is other bad input: answered as it is, never retried.
  const before = retries();
  for (let i = 0; i < 6; i++) {
    const err = await client.completions.create({ model: MODEL, prompt: `short ${i}`, max_tokens: 4, temperature: -1 }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  }
  assert.equal(retries(), before, 'no short request was retried after its 400');
});
