// A chat request the router's ~4-characters-a-token estimate undercounts (newline-heavy content:
// the engine counts one token a newline) looks like it fits a small replica's window, is refused
// there with vLLM's context-length 400, and is moved to the replica with the larger window — for
// /v1/chat/completions as for /v1/completions (max-model-len-routing.test.ts), streamed or not, and
// with max_tokens sent as a string vLLM accepts ("2000"). Through the EPP, Envoy does not retry a
// 400: the client gets the small replica's refusal in vLLM's words. Real `kvgate sim` replicas on
// loopback (the large one reports a waiting queue through --fake-metrics, so the router's first
// pick is a small one whenever the estimate fits there); the official openai client on the gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { mixedWindowFleet, refusalsIn, SMALL_WINDOW as SMALL, LARGE_WINDOW as LARGE } from '../helpers/mixed-windows.js';

const MODEL = 'org/a';

let fleet: Awaited<ReturnType<typeof mixedWindowFleet>>;
let env: typeof fleet.env;
let client: OpenAI;
/** Endpoint ids (host:port) of the large replica and of the two small ones. */
let large: string;
let smalls: string[];

before(async () => {
  // The large replica reports requests waiting and running (mixed-windows.ts): idle small replicas
  // predict a shorter TTFT, so they are picked first, as in a fleet whose large replica is the busy
  // one. Equal scores would make the first pick a coin toss.
  fleet = await mixedWindowFleet(MODEL);
  ({ env, large, smalls } = fleet);
  client = new OpenAI({ baseURL: `${env.gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await fleet?.close();
});

/** The gateway's failovers after a 400, by the endpoint that answered it. */
const refusedBy = () => refusalsIn(fleet.gatewayLog);

/**
 * A user message of `newlines` newlines after a tag: the router estimates ~newlines/4 tokens, the
 * sim's tokenizer counts one a newline.
 */
const newlineMessages = (tag: string, newlines: number) => [{ role: 'user' as const, content: `${tag}${'\n'.repeat(newlines)}` }];

test('gateway (openai client): a newline-heavy chat prompt refused by a small replica is retried on the large one, non-streamed and streamed', async () => {
  for (let i = 0; i < 4; i++) {
    const before = refusedBy().length;
    // 12,000 newlines: ~3,000 tokens by the router's estimate (fits 4,096), 12,000 by the sim's.
    const { data, response } = await client.chat.completions.create({ model: MODEL, messages: newlineMessages(`n${i}`, 12_000), max_tokens: 4 }).withResponse();
    assert.ok(data.usage!.prompt_tokens >= 12_000, `the engine counted ${data.usage!.prompt_tokens}`);
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `chat ${i}`);
    const refused = refusedBy().slice(before);
    assert.equal(refused.length, 1, `chat ${i}: the router sent it to a small replica first (its estimate fits there), which refused it once`);
    assert.ok(smalls.includes(refused[0]));
  }
  for (let i = 0; i < 4; i++) {
    const before = refusedBy().length;
    const { data: stream, response } = await client.chat.completions.create({ model: MODEL, messages: newlineMessages(`s${i}`, 12_000), max_tokens: 4, stream: true, stream_options: { include_usage: true } }).withResponse();
    let text = '';
    let promptTokens = 0;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      promptTokens = c.usage?.prompt_tokens ?? promptTokens;
    }
    assert.ok(text.length > 0);
    assert.ok(promptTokens >= 12_000, `the engine counted ${promptTokens}`);
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `chat stream ${i}`);
    const refused = refusedBy().slice(before);
    assert.equal(refused.length, 1, `chat stream ${i}: refused once by a small replica`);
    assert.ok(smalls.includes(refused[0]));
  }
});

test('gateway (openai client): the reported shape — max_tokens "2000" (a string vLLM accepts) on a chat prompt the estimate undercounts — is refused by a small replica and served by the large one', async () => {
  for (let i = 0; i < 4; i++) {
    const before = refusedBy().length;
    // 3,000 newlines: ~760 tokens by the router's estimate, + 2,000 fits 4,096; the sim counts
    // 3,000+ in the messages, + 2,000 over 4,096 (its 400), but well inside 32,768.
    const body = { model: MODEL, messages: newlineMessages(`m${i}`, 3000), max_tokens: '2000' as unknown as number };
    const { data, response } = await client.chat.completions.create(body).withResponse();
    assert.ok(data.usage!.prompt_tokens >= 3000);
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `max_tokens "2000" ${i}`);
    assert.equal(refusedBy().length - before, 1, `max_tokens "2000" ${i}: refused once by a small replica`);
  }
});

test('gateway (openai client): when the large replica refuses too, its 400 (vLLM\'s chat message, its window) is the client\'s answer; a short bad chat request is never retried', async () => {
  // 40,000 newlines: ~10,000 estimated (fits only 32,768), 40,000 by the sim (fits nowhere).
  const err = await client.chat.completions.create({ model: MODEL, messages: newlineMessages('over', 40_000), max_tokens: 4 }).catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.match(err.message, new RegExp(`maximum context length is ${LARGE} tokens.*in the messages`));
  assert.equal(err.headers?.get('x-gateway-destination-endpoint-served'), large);
  const before = refusedBy().length;
  for (let i = 0; i < 4; i++) {
    const bad = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `short ${i}` }], max_tokens: 4, temperature: -1 }).catch((e: unknown) => e);
    assert.ok(bad instanceof OpenAI.BadRequestError, String(bad));
  }
  assert.equal(refusedBy().length, before, 'no short chat request was retried after its 400');
});

test('EPP: a newline-heavy chat prompt goes to a small replica (the estimate fits it) and, Envoy not retrying a 400, the client gets vLLM\'s chat refusal from there', async () => {
  const r = await env.envoy('/v1/chat/completions', { model: MODEL, messages: newlineMessages('e', 12_000), max_tokens: 4 });
  assert.equal(r.status, 400, r.body.toString());
  assert.ok(r.destination !== undefined && smalls.includes(r.destination.split(',')[0]), `picked ${r.destination}`);
  const e = (JSON.parse(r.body.toString()) as { error: { message: string; param: string } }).error;
  assert.match(e.message, new RegExp(`maximum context length is ${SMALL} tokens.*in the messages`));
  assert.equal(e.param, 'messages');
});

test('EPP and gateway: the reported request — a 3,000-token chat prompt (counted alike by router and engine) with max_tokens "2000" — is sent first to the large replica, the only window prompt + max_tokens fits', async () => {
  /** About `tokens` tokens by the sim's count and the router's estimate (4 characters each, no newlines). */
  const promptOf = (tag: string, tokens: number) => `${tag} `.padEnd(8, '.') + 'abcd'.repeat(tokens - 2);
  for (let i = 0; i < 4; i++) {
    const r = await env.envoy('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: promptOf(`re${i}`, 3000) }], max_tokens: '2000' });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.destination?.split(',')[0], large, `EPP ${i}`);
  }
  const before = refusedBy().length;
  for (let i = 0; i < 4; i++) {
    const body = { model: MODEL, messages: [{ role: 'user' as const, content: promptOf(`rg${i}`, 3000) }], max_tokens: '2000' as unknown as number };
    const { response } = await client.chat.completions.create(body).withResponse();
    assert.equal(response.headers.get('x-gateway-destination-endpoint-served'), large, `gateway ${i}`);
  }
  assert.equal(refusedBy().length, before, 'no refusal on the way: the hint put it on the large replica first');
});
