import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { request } from 'undici';
import { fleetWithGateway, MODEL } from '../gateway/helpers.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

// Arbitrary request bodies, from well-formed to hostile: every field may hold any JSON value,
// and sometimes the body is not JSON at all. Whatever arrives, the answer must be a success or a
// 4xx with an OpenAI error body, never a 5xx, a hang or a dead server.

const anyJson = fc.jsonValue({ maxDepth: 3 });
const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 }));
const message = fc.record(
  { role: fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool', 'developer'), anyJson), content: fc.oneof(text, anyJson, fc.array(fc.record({ type: fc.constant('text'), text }), { maxLength: 2 })) },
  { requiredKeys: [] },
);
const fields = {
  model: fc.oneof({ weight: 6, arbitrary: fc.constant(MODEL) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: text }),
  prompt: fc.oneof(text, fc.array(text, { maxLength: 3 }), fc.array(fc.nat(50_000), { maxLength: 20 }), anyJson),
  messages: fc.oneof({ weight: 4, arbitrary: fc.array(message, { maxLength: 3 }) }, { weight: 1, arbitrary: anyJson }),
  max_tokens: fc.oneof(fc.integer({ min: -5, max: 40 }), anyJson),
  max_completion_tokens: fc.oneof(fc.integer({ min: -5, max: 40 }), anyJson),
  stream: fc.oneof(fc.boolean(), anyJson),
  stream_options: fc.oneof(fc.record({ include_usage: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }), anyJson),
  ignore_eos: fc.oneof(fc.boolean(), anyJson),
  cache_salt: fc.oneof(text, anyJson),
  temperature: anyJson,
  n: anyJson,
};
const body = fc.oneof(
  { weight: 8, arbitrary: fc.record(fields, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
);
const path = fc.constantFrom('/v1/completions', '/v1/chat/completions');

let env: Awaited<ReturnType<typeof fleetWithGateway>>;
before(async () => {
  env = await fleetWithGateway(2);
});
after(() => env.close());

async function send(base: string, p: string, b: string): Promise<void> {
  const r = await request(`${base}${p}`, { method: 'POST', body: b, headers: { 'content-type': 'application/json' }, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const textBody = await r.body.text();
  assert.ok(r.statusCode === 200 || (r.statusCode >= 400 && r.statusCode < 500), `status ${r.statusCode} for ${p} ${b}: ${textBody}`);
  if (r.statusCode === 200) {
    if (String(r.headers['content-type']).includes('text/event-stream')) assert.ok(textBody.trimEnd().endsWith('data: [DONE]'), `stream did not end with [DONE]: ${textBody.slice(-200)}`);
    else assert.ok(Array.isArray(JSON.parse(textBody).choices), textBody);
  } else {
    const err = JSON.parse(textBody).error;
    assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'param', 'type'], textBody);
  }
}

for (const target of ['simulator', 'gateway'] as const) {
  test(`${target}: arbitrary request bodies get a success or a 4xx OpenAI error, and the server stays healthy`, async () => {
    const base = target === 'gateway' ? env.gateway.url : env.fleet.replicas[0].url;
    await fc.assert(fc.asyncProperty(path, body, (p, b) => send(base, p, b)), { numRuns: Number(process.env.FUZZ_RUNS ?? 250), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 });
    // Still serving, with nothing left running or queued on any replica.
    await send(base, '/v1/completions', JSON.stringify({ model: MODEL, prompt: 'still alive', max_tokens: 2 }));
    for (const r of env.fleet.replicas) {
      const { samples } = parsePromText(await (await fetch(`${r.url}/metrics`)).text());
      const L = { model_name: MODEL, engine: '0' };
      assert.equal(sampleValue(samples, 'vllm:num_requests_running', L), 0);
      assert.equal(sampleValue(samples, 'vllm:num_requests_waiting', L), 0);
    }
  });
}
