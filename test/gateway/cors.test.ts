// CORS as vLLM's OpenAI server answers it (CORSMiddleware, --allowed-origins default ["*"]):
// preflights answered before authentication, allow-origin on answers to browser requests, nothing
// added for clients that send no Origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { fleetWithGateway, MODEL } from './helpers.js';

const chat = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });

test('CORS, default (any origin): preflight 200 without a key, allow-origin * on the answer, none without Origin', async () => {
  const f = await fleetWithGateway(1, { apiKeys: ['k1'] });
  try {
    const url = `${f.gateway.url}/v1/chat/completions`;
    const pre = await request(url, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    await pre.body.dump();
    assert.equal(pre.statusCode, 200);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    assert.match(String(pre.headers['access-control-allow-methods']), /\bPOST\b/);
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.equal(pre.headers['access-control-max-age'], '600');

    const ok = await request(url, { method: 'POST', headers: { origin: 'https://app.example', authorization: 'Bearer k1', 'content-type': 'application/json' }, body: chat });
    const body = (await ok.body.json()) as { choices: unknown[] };
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], '*');
    assert.equal(body.choices.length, 1);

    // An error answer carries it too (a browser could not read the error otherwise).
    const denied = await request(url, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/json' }, body: chat });
    assert.equal(denied.statusCode, 401);
    assert.equal(denied.headers['access-control-allow-origin'], '*');
    await denied.body.dump();

    const plain = await request(url, { method: 'POST', headers: { authorization: 'Bearer k1', 'content-type': 'application/json' }, body: chat });
    await plain.body.dump();
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    // OPTIONS that is not a preflight is no route, as before.
    const notPre = await request(url, { method: 'OPTIONS', headers: { authorization: 'Bearer k1' } });
    await notPre.body.dump();
    assert.equal(notPre.statusCode, 405);
  } finally {
    await f.close();
  }
});

test('CORS with an explicit origin list: other origins get no allow-origin and a 400 preflight; [] turns CORS off', async () => {
  const f = await fleetWithGateway(1, { allowedOrigins: ['https://ok.example'] });
  try {
    const url = `${f.gateway.url}/v1/chat/completions`;
    const good = await request(url, { method: 'OPTIONS', headers: { origin: 'https://ok.example', 'access-control-request-method': 'POST' } });
    await good.body.dump();
    assert.equal(good.statusCode, 200);
    assert.equal(good.headers['access-control-allow-origin'], 'https://ok.example');
    assert.equal(good.headers.vary, 'Origin');
    const bad = await request(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(await bad.body.text(), 'Disallowed CORS origin');
    const post = await request(url, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: chat });
    await post.body.dump();
    assert.equal(post.statusCode, 200);
    assert.equal(post.headers['access-control-allow-origin'], undefined);
  } finally {
    await f.close();
  }
  const off = await fleetWithGateway(1, { allowedOrigins: [] });
  try {
    const pre = await request(`${off.gateway.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    await pre.body.dump();
    assert.equal(pre.statusCode, 405);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
  } finally {
    await off.close();
  }
});
