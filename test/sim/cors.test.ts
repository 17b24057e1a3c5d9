// CORS as vLLM's OpenAI server answers it by default (CORSMiddleware, --allowed-origins ["*"]).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';

let sim: RunningSim;
before(async () => {
  sim = await startSimServer({ port: 0, profile: 'instant' });
});
after(async () => {
  await sim.close();
});

test('kvgate sim answers a CORS preflight on any path and marks answers to browser requests', async () => {
  for (const path of ['/v1/chat/completions', '/no/such/path']) {
    const pre = await fetch(`${sim.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    assert.equal(pre.status, 200, path);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type');
  }
  const models = await fetch(`${sim.url}/v1/models`, { headers: { origin: 'https://app.example' } });
  assert.equal(models.status, 200);
  assert.equal(models.headers.get('access-control-allow-origin'), '*');
  const plain = await fetch(`${sim.url}/v1/models`);
  assert.equal(plain.headers.get('access-control-allow-origin'), null);
});
