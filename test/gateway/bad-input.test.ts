import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fleetWithGateway, MODEL, post, waitFor } from './helpers.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { freePort } from '../helpers/ports.js';

let env: Awaited<ReturnType<typeof fleetWithGateway>>;
before(async () => {
  env = await fleetWithGateway(2, { maxBodyBytes: 32 * 1024, apiKeys: ['sekret-1', 'sekret-2'] });
});
after(() => env.close());
const auth = { authorization: 'Bearer sekret-2' };

function isOpenAIError(j: { error: Record<string, unknown> }) {
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
}

const cases: [string, string, string, Record<string, string>, number, string][] = [
  ['invalid JSON', '/v1/completions', '{"model":', auth, 400, 'invalid_json'],
  ['missing model', '/v1/completions', JSON.stringify({ prompt: 'x' }), auth, 400, 'missing_model'],
  ['a model that is not a string', '/v1/chat/completions', JSON.stringify({ model: 123, messages: [{ role: 'user', content: 'x' }] }), auth, 400, 'invalid_request_error'],
  ['unknown model', '/v1/chat/completions', JSON.stringify({ model: 'gpt-9', messages: [] }), auth, 404, 'model_not_found'],
  ['body too large', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'x'.repeat(40_000) }), auth, 413, 'body_too_large'],
  ['no API key', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'x' }), {}, 401, 'invalid_api_key'],
  ['a wrong API key', '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'x' }), { authorization: 'Bearer sekret-3' }, 401, 'invalid_api_key'],
  ['an unknown path', '/v1/no-such-route', '{}', auth, 404, 'not_found'],
  ['embeddings without a model', '/v1/embeddings', '{}', auth, 400, 'missing_model'],
];
for (const [name, path, body, headers, status, code] of cases) {
  test(`${name} → ${status}, with the client's x-request-id echoed`, async () => {
    const r = await post(`${env.gateway.url}${path}`, body, { ...headers, 'x-request-id': `bad-${status}-${code}` });
    assert.equal(r.status, status);
    isOpenAIError(r.json);
    assert.equal(r.json.error.code, code);
    assert.equal(r.headers.get('x-request-id'), `bad-${status}-${code}`);
  });
}

test('an error the gateway answers for a request without x-request-id carries the id of its access-log line', async () => {
  const r = await post(`${env.gateway.url}/v1/completions`, { model: 'gpt-9', prompt: 'x' }, auth);
  assert.equal(r.status, 404);
  assert.ok(r.headers.get('x-request-id'), 'an id the operator can find in the access log');
});

test('the gateway says a non-string model is one, and passes sampling parameters through for the engine to judge', async () => {
  const r = await post(`${env.gateway.url}/v1/completions`, { model: 123, prompt: 'x' }, auth);
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'model');
  assert.match(r.json.error.message, /model must be a string/);
  // The gateway does not parse temperature or top_p: the replica (vLLM's rules, kvgate sim's too) answers.
  const hot = await post(`${env.gateway.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'x' }], temperature: 'hot', max_tokens: 1 }, auth);
  assert.equal(hot.status, 400);
  assert.equal(hot.json.error.param, 'temperature');
  const topP = await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: 'x', top_p: 5, max_tokens: 1 }, auth);
  assert.equal(topP.status, 400);
  assert.match(topP.json.error.message, /top_p must be in \(0, 1\], got 5\./);
});

test('a wrong method → 405; /health and /metrics need no key; a good key works', async () => {
  const r = await fetch(`${env.gateway.url}/v1/completions`, { headers: auth });
  assert.equal(r.status, 405);
  // HTTP requires Allow on a 405 (RFC 9110 §15.5.6), and vLLM's FastAPI sends it.
  assert.equal(r.headers.get('allow'), 'POST');
  for (const [method, path, allow] of [['POST', '/v1/models', 'GET'], ['DELETE', '/tokenize', 'POST'], ['POST', '/version', 'GET']]) {
    const m = await fetch(`${env.gateway.url}${path}`, { method, headers: auth });
    assert.equal(m.status, 405, `${method} ${path}`);
    assert.equal(m.headers.get('allow'), allow, `${method} ${path}`);
    await m.body?.cancel();
  }
  assert.equal((await fetch(`${env.gateway.url}/health`)).status, 200);
  assert.equal((await fetch(`${env.gateway.url}/metrics`)).status, 200);
  const ok = await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: 'x', max_tokens: 1 }, auth);
  assert.equal(ok.status, 200);
});

test('no ready endpoint → 503, and /ready says so', async () => {
  const dead = await freePort();
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(`127.0.0.1:${dead}`)], healthIntervalMs: 50 });
  try {
    await waitFor(() => gw.router.datastore.get(`127.0.0.1:${dead}`)!.healthy === false);
    const r = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'x' });
    assert.equal(r.status, 503);
    isOpenAIError(r.json);
    assert.equal((await fetch(`${gw.url}/ready`)).status, 503);
  } finally {
    await gw.close();
  }
});

let noMetrics: Server;
test('a sheddable request (by priority or InferenceObjective) on a saturated pool → 429 with Retry-After; headers only when trusted', async () => {
  // An upstream whose /metrics never answers counts as saturated.
  noMetrics = createServer((req, res) => {
    if (req.url === '/health') return res.end();
    if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: MODEL }] }));
    if (req.url === '/metrics') return res.writeHead(500).end();
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[]}'));
  });
  await new Promise<void>((r) => noMetrics.listen(0, '127.0.0.1', r));
  const up = `127.0.0.1:${(noMetrics.address() as AddressInfo).port}`;
  const objectives = new Map([['batch', -1], ['interactive', 5]]);
  const trusted = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(up)], trustRoutingHeaders: true, objectives });
  const untrusted = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(up)] });
  try {
    const shed = await post(`${trusted.url}/v1/completions`, { model: MODEL, prompt: 'x' }, { 'x-kvgate-priority': '-1' });
    assert.equal(shed.status, 429);
    assert.equal(shed.headers.get('retry-after'), '1');
    isOpenAIError(shed.json);
    const normal = await post(`${trusted.url}/v1/completions`, { model: MODEL, prompt: 'x' });
    assert.equal(normal.status, 200);
    const batch = await post(`${trusted.url}/v1/completions`, { model: MODEL, prompt: 'x' }, { 'x-gateway-inference-objective': 'batch' });
    assert.equal(batch.status, 429, 'an objective with negative priority is sheddable');
    assert.equal(batch.headers.get('x-llm-d-request-dropped-reason'), 'rejected-saturated');
    const interactive = await post(`${trusted.url}/v1/completions`, { model: MODEL, prompt: 'x' }, { 'x-gateway-inference-objective': 'interactive' });
    assert.equal(interactive.status, 200);
    const ignored = await post(`${untrusted.url}/v1/completions`, { model: MODEL, prompt: 'x' }, { 'x-kvgate-priority': '-1', 'x-gateway-inference-objective': 'batch' });
    assert.equal(ignored.status, 200, 'client priority headers are not trusted by default');
  } finally {
    await trusted.close();
    await untrusted.close();
    noMetrics.close();
  }
});
