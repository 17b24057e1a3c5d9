// `kvgate sim --api-key` / $VLLM_API_KEY as vLLM's AuthenticationMiddleware
// (vllm/entrypoints/serve/utils/server_utils.py): guarded prefixes, the exact 401 body, OPTIONS and
// the other paths open, the scheme case-insensitive, the token compared as sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { sim, post, MODEL } from './helpers.js';
import type { RunningSim } from '../../src/sim/server.js';

let s: RunningSim;
before(async () => {
  s = await sim({ apiKeys: ['k1', 'k2'] });
});
after(async () => {
  await s.close();
});

const get = (path: string, authorization?: string) => fetch(`${s.url}${path}`, { headers: authorization === undefined ? {} : { authorization } });

test('sim --api-key: a guarded path without a key is 401 with vLLM\'s exact body; either key opens it, the scheme in any case', async () => {
  const none = await get('/v1/models');
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('content-type'), 'application/json');
  assert.equal(await none.text(), '{"error":"Unauthorized"}');
  assert.equal((await get('/v1/models', 'bearer k1')).status, 200);
  assert.equal((await get('/v1/models', 'BEARER k1')).status, 200);
  assert.equal((await get('/v1/models', 'Bearer k2')).status, 200, 'the second of two keys');
  for (const bad of ['Bearer k3', 'Basic k1', 'k1', 'Bearer', 'Bearer  k1', 'Bearer k1,k2']) {
    assert.equal((await get('/v1/models', bad)).status, 401, bad);
  }
});

test('sim --api-key: /v1, /v2, /inference and /cohere are guarded before routing (even unknown paths, even percent-encoded)', async () => {
  for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/no-such', '/v2/rerank', '/inference/v1/generate', '/cohere/v2/chat', '/%761/models']) {
    const r = await post(s, path, { model: MODEL });
    assert.equal(r.status, 401, path);
    assert.equal(r.text, '{"error":"Unauthorized"}', path);
  }
  const keyed = await post(s, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, { authorization: 'Bearer k1' });
  assert.equal(keyed.status, 200, keyed.text);
});

test('sim --api-key: /health, /metrics, /version, /tokenize and /reset_prefix_cache stay open; OPTIONS is never checked', async () => {
  for (const path of ['/health', '/metrics', '/version']) assert.equal((await get(path)).status, 200, path);
  assert.equal((await post(s, '/tokenize', { model: MODEL, prompt: 'hi' })).status, 200);
  assert.equal((await fetch(`${s.url}/reset_prefix_cache`, { method: 'POST' })).status, 200);
  const pre = await fetch(`${s.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
});

test('sim --api-key: the official openai client with the key gets a completion; with another key an AuthenticationError (401)', async () => {
  const ok = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'k2', maxRetries: 0 });
  const r = await ok.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(r.object, 'chat.completion');
  const wrong = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError && err.status === 401);
});

/** The environment without VLLM_API_KEY unless given, so a developer's own cannot leak in. */
function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.VLLM_API_KEY;
  return { ...env, ...vars };
}

async function simCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', ...args], { env });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const line = await waitForOutput(child, /listening on http:\/\/\S+/, 60_000);
    return { child, url: line.slice('listening on '.length), stop: async () => void (child.kill('SIGTERM'), await exited) };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

const status = async (url: string, key: string) => (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status;

test('kvgate sim: --api-key (space-, comma-separated, repeated) wins over $VLLM_API_KEY, which alone is one key, as vLLM', async () => {
  const flags = await simCli(['--api-key', 'a1', 'a2,a3', '--api-key', 'a4'], envWith({ VLLM_API_KEY: 'from-env' }));
  try {
    for (const k of ['a1', 'a2', 'a3', 'a4']) assert.equal(await status(flags.url, k), 200, k);
    assert.equal(await status(flags.url, 'from-env'), 401, 'the flag wins over the variable');
  } finally {
    await flags.stop();
  }
  const env = await simCli([], envWith({ VLLM_API_KEY: 'e1,e2' }));
  try {
    assert.equal(await status(env.url, 'e1,e2'), 200, 'the variable is one key, taken whole');
    assert.equal(await status(env.url, 'e1'), 401);
    assert.equal((await fetch(`${env.url}/health`)).status, 200);
  } finally {
    await env.stop();
  }
});

test('kvgate sim: an empty --api-key (an unset $KEY) is a startup error naming the flag, not authentication off', async () => {
  for (const key of ['', ' , ']) {
    const r = await runKvgate(['sim', '--port', '0', '--profile', 'instant', '--api-key', key], { env: envWith({}) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--api-key is empty \(an unset variable in --api-key "\$KEY"\?\)/);
    assert.doesNotMatch(r.stdout, /listening/);
  }
});
