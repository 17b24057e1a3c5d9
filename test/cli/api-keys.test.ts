import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { fleetWithGateway } from '../gateway/helpers.js';

/** The environment without either API-key variable, so a developer's own cannot leak in. */
function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KVGATE_API_KEYS;
  delete env.KVGATE_API_KEY;
  return { ...env, ...vars };
}

test('serve: an empty --api-key or an empty KVGATE_API_KEYS (an unset $KEY) is a startup error, not authentication off', async () => {
  for (const key of ['', ' ', ',']) {
    const r = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--api-key', key], { env: envWith({}) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--api-key is empty \(an unset variable in --api-key "\$KEY"\?\)/);
    assert.doesNotMatch(r.stdout, /listening/);
  }
  const env = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9'], { env: envWith({ KVGATE_API_KEYS: '' }) });
  assert.equal(env.code, 1, env.stderr);
  assert.match(env.stderr, /^kvgate: KVGATE_API_KEYS is set but holds no key: give one, or unset it to serve without authentication$/m);
});

test('serve: keys from --api-key and KVGATE_API_KEYS both open the gateway; a request without one is 401', async () => {
  const child = spawnKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--api-key', 'k1'], { env: envWith({ KVGATE_API_KEYS: ' k2 , ' }) });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const url = (await waitForOutput(child, /http:\/\/\S+(?= \()/, 30_000)).trim();
    const status = async (key?: string) => (await fetch(`${url}/v1/models`, { headers: key ? { authorization: `Bearer ${key}` } : {} })).status;
    assert.equal(await status(), 401);
    assert.notEqual(await status('k1'), 401);
    assert.notEqual(await status('k2'), 401);
  } finally {
    child.kill('SIGINT');
    await exited;
  }
});

test('top reads KVGATE_API_KEYS as serve does (its first key), KVGATE_API_KEY still, and refuses an empty --api-key', async () => {
  const f = await fleetWithGateway(1, { apiKeys: ['k1', 'k2'] });
  try {
    const viaServeVar = await runKvgate(['top', '--url', f.gateway.url, '--once'], { env: envWith({ KVGATE_API_KEYS: 'k2,k1' }), timeoutMs: 30_000 });
    assert.equal(viaServeVar.code, 0, viaServeVar.stderr);
    assert.match(viaServeVar.stdout, /kvgate top/);
    const viaOldVar = await runKvgate(['top', '--url', f.gateway.url, '--once'], { env: envWith({ KVGATE_API_KEY: 'k1' }), timeoutMs: 30_000 });
    assert.equal(viaOldVar.code, 0, viaOldVar.stderr);
    const none = await runKvgate(['top', '--url', f.gateway.url, '--once'], { env: envWith({}), timeoutMs: 30_000 });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /401/);
    const empty = await runKvgate(['top', '--url', f.gateway.url, '--once', '--api-key', ''], { env: envWith({ KVGATE_API_KEYS: 'k1' }) });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /^kvgate: --api-key is empty/m);
  } finally {
    await f.close();
  }
});

test('verify refuses an empty --api-key as serve and sim do, before any request; a refused key is never echoed', async () => {
  for (const key of ['', ' ']) {
    const r = await runKvgate(['verify', '--url', 'http://127.0.0.1:9', '--api-key', key], { env: envWith({}) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--api-key is empty \(an unset variable in --api-key "\$KEY"\?\)/);
    assert.equal(r.stdout, '', 'no verification table: it stopped at the flag');
  }
  for (const sim of [['sim', '--port', '0', '--api-key', '']]) {
    const r = await runKvgate(sim, { env: envWith({}) });
    assert.match(r.stderr, /--api-key is empty \(an unset variable in --api-key "\$KEY"\?\)/, 'the same check as sim');
  }
  const twice = await runKvgate(['verify', '--url', 'http://127.0.0.1:9', '--api-key', 'first-secret', '--api-key', 'second-secret'], { env: envWith({}) });
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /^kvgate: --api-key is given twice/m);
  const odd = await runKvgate(['verify', '--url', 'http://127.0.0.1:9', '--api-key', 'sécret'], { env: envWith({}) });
  assert.equal(odd.code, 1);
  assert.match(odd.stderr, /^kvgate: --api-key holds characters an HTTP header cannot carry/m);
  for (const r of [twice, odd]) assert.doesNotMatch(r.stderr, /secret|sécret/);
});
