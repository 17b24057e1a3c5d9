// The router's output-length hint (max_completion_tokens, else max_tokens) read as vLLM's pydantic
// models read an int field in lax mode: `"2000"` is the hint 2000, so a request whose prompt +
// max_tokens fits only the large replica is sent there first, whether the number came as JSON
// number or string. Values pydantic refuses give no hint and go upstream unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseOpenAIRequest } from '../../src/router/parse-request.js';
import { mixedWindowFleet } from '../helpers/mixed-windows.js';

const hint = (path: string, body: Record<string, unknown>) => parseOpenAIRequest(path, Buffer.from(JSON.stringify({ model: 'm', prompt: 'p', messages: [], ...body })), { requestId: 'r' }).route.maxTokens;

test('max_tokens / max_completion_tokens: pydantic lax ints are the hint; refused values, null and absence are none', () => {
  const cases: [unknown, number | undefined][] = [
    [10, 10],
    ['10', 10],
    [' 10 ', 10],
    ['+10', 10],
    ['1_000', 1000],
    ['10.0', 10],
    [10.0, 10],
    [true, 1],
    [false, 0],
    ['1.5', undefined],
    [1.5, undefined],
    ['1e3', undefined],
    ['abc', undefined],
    ['', undefined],
    ['1__000', undefined],
    [[10], undefined],
    [{ n: 10 }, undefined],
    [null, undefined],
  ];
  for (const [v, want] of cases) {
    assert.equal(hint('/v1/completions', { max_tokens: v }), want, `max_tokens ${JSON.stringify(v)}`);
    assert.equal(hint('/v1/chat/completions', { max_completion_tokens: v }), want, `max_completion_tokens ${JSON.stringify(v)}`);
  }
  assert.equal(hint('/v1/completions', {}), undefined);
  // max_completion_tokens wins when set (vLLM reads it first); null or absent falls to max_tokens.
  assert.equal(hint('/v1/chat/completions', { max_completion_tokens: '20', max_tokens: 10 }), 20);
  assert.equal(hint('/v1/chat/completions', { max_completion_tokens: null, max_tokens: '10' }), 10);
  // A refused max_completion_tokens is no hint (the engine refuses the request), not max_tokens.
  assert.equal(hint('/v1/chat/completions', { max_completion_tokens: 'abc', max_tokens: 10 }), undefined);
});

const MODEL = 'org/a';
// Windows of 4,096, 32,768 and 4,096 tokens; the large replica is the busy one, so a router that
// ignored the hint (or the windows) would pick a small replica first (mixed-windows.ts).
let fleet: Awaited<ReturnType<typeof mixedWindowFleet>>;
let env: typeof fleet.env;
let large: string;

before(async () => {
  fleet = await mixedWindowFleet(MODEL);
  ({ env, large } = fleet);
});
after(async () => {
  await fleet?.close();
});

/** About `tokens` tokens by the sim's estimate and the router's (4 characters each). */
const promptOf = (tag: string, tokens: number) => `${tag} `.padEnd(8, '.') + 'abcd'.repeat(tokens - 2);

test('a string max_tokens the engine accepts ("2000", "2_000") routes as the number: a 3,000-token prompt goes first to the one window it fits (gateway: no failover; EPP: picked first)', async () => {
  const failovers = () => fleet.gatewayLog.filter((l) => l.msg === 'upstream attempt failed; trying the next endpoint').length;
  const bodies = (tag: string) => [
    ['/v1/completions', { model: MODEL, prompt: promptOf(`c${tag}`, 3000), max_tokens: '2000' }],
    ['/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: promptOf(`h${tag}`, 3000) }], max_completion_tokens: '2_000' }],
  ] as const;
  for (let i = 0; i < 6; i++) {
    for (const [path, body] of bodies(`g${i}`)) {
      const r = await fetch(`${env.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 200, await r.text());
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), large, `gateway ${path} ${i}`);
    }
    for (const [path, body] of bodies(`e${i}`)) {
      const e = await env.envoy(path, body);
      assert.equal(e.status, 200, e.body.toString());
      assert.equal(e.destination, large, `EPP ${path} ${i}`);
    }
  }
  assert.equal(failovers(), 0, 'no request was first sent to a replica whose window it does not fit');
});

test('a max_tokens pydantic refuses ("2000.5") is no hint and reaches a replica unchanged, whose 400 names the field', async () => {
  const r = await fetch(`${env.gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'short', max_tokens: '2000.5' }) });
  assert.equal(r.status, 400);
  const err = ((await r.json()) as { error: { param?: string } }).error;
  assert.equal(err.param, 'max_tokens');
});
