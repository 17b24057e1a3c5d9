// One case suite for both ingresses (as hono runs one case file against every router): each
// request goes through the OpenAI gateway and through Envoy + the ext_proc EPP, and both must
// give the same status and error code, because only the request lifecycle decides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSimFleet, type RunningSimFleet } from '../../src/sim/fleet.js';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';
import { MODEL, waitFor } from '../gateway/helpers.js';

const MAX_BODY = 256 * 1024;
let fleet: RunningSimFleet;
let gw: RunningGateway;
let epp: RunningEpp;
let client: EnvoyLikeClient;
const urls = new Map<string, string>();

before(async () => {
  fleet = await startSimFleet({ replicas: 2, basePort: 0, profile: 'instant' });
  const endpoints = fleet.replicas.map((r) => parseEndpoint(r.url));
  for (const e of endpoints) urls.set(e.id, e.url);
  gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100, maxBodyBytes: MAX_BODY });
  epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100, maxBodyBytes: MAX_BODY });
  client = new EnvoyLikeClient(epp.grpcPort);
  // Both know which models the replicas serve before the cases run.
  await waitFor(() => [gw.router, epp.router].every((r) => r.datastore.list().every((e) => e.models !== undefined)));
});
after(async () => {
  client.close();
  await gw.close();
  await epp.close();
  await fleet.close();
});

const nested = (depth: number) => `{"model":"${MODEL}","prompt":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const cases: { name: string; path: string; body: string; contentType?: string; status: number; code?: string }[] = [
  { name: 'a completion', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: 'hello there', max_tokens: 3 }), status: 200 },
  { name: 'a chat completion', path: '/v1/chat/completions', body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }), status: 200 },
  { name: 'a streamed chat without include_usage', path: '/v1/chat/completions', body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'stream' }], max_tokens: 3, stream: true }), status: 200 },
  { name: 'a batch of prompts', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: ['a b c', 'd e f'], max_tokens: 2 }), status: 200 },
  { name: 'invalid JSON', path: '/v1/completions', body: '{"model":', status: 400, code: 'invalid_json' },
  { name: 'a JSON array body', path: '/v1/completions', body: '[1,2]', status: 400, code: 'invalid_request_error' },
  { name: 'no model', path: '/v1/completions', body: JSON.stringify({ prompt: 'x' }), status: 400, code: 'missing_model' },
  { name: 'a model nobody serves', path: '/v1/chat/completions', body: JSON.stringify({ model: 'org/nope', messages: [{ role: 'user', content: 'x' }] }), status: 404, code: 'model_not_found' },
  { name: 'a prompt nested 100,000 arrays deep', path: '/v1/completions', body: nested(100_000), status: 400, code: 'invalid_request_error' },
  { name: 'a text/plain body', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: 'x' }), contentType: 'text/plain', status: 400, code: 'invalid_request_error' },
  { name: 'messages that are not a list', path: '/v1/chat/completions', body: JSON.stringify({ model: MODEL, messages: 'hi' }), status: 400, code: 'invalid_request_error' },
  { name: 'a message that is not an object', path: '/v1/chat/completions', body: JSON.stringify({ model: MODEL, messages: [42] }), status: 400, code: 'invalid_request_error' },
  { name: 'a prompt that is an object', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: { a: 1 } }), status: 400, code: 'invalid_request_error' },
  { name: 'a body over the limit', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: 'x'.repeat(MAX_BODY) }), status: 413, code: 'body_too_large' },
  { name: 'an engine-side validation error (max_tokens < 0)', path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: -5 }), status: 400 },
];

for (const c of cases) {
  test(`same outcome through gateway and EPP: ${c.name} → ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
    const headers = { 'content-type': c.contentType ?? 'application/json' };
    const viaGateway = await fetch(`${gw.url}${c.path}`, { method: 'POST', headers, body: c.body });
    const gText = await viaGateway.text();
    const viaEnvoy = await throughEnvoy(client, { path: c.path, headers, body: c.body }, (id) => urls.get(id)!);
    const eText = viaEnvoy.body.toString();
    assert.equal(viaGateway.status, c.status, `gateway: ${gText.slice(0, 300)}`);
    assert.equal(viaEnvoy.status, c.status, `EPP: ${eText.slice(0, 300)}`);
    if (c.status >= 400) {
      const g = JSON.parse(gText) as { error: { code: unknown; type: string } };
      const e = JSON.parse(eText) as { error: { code: unknown; type: string } };
      assert.deepEqual(Object.keys(g.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(e.error.code, g.error.code, 'same error code');
      assert.equal(e.error.type, g.error.type, 'same error type');
      if (c.code) assert.equal(g.error.code, c.code);
    } else if (c.body.includes('"stream":true')) {
      for (const text of [gText, eText]) {
        assert.match(text, /data: \[DONE\]/);
        assert.doesNotMatch(text, /"usage"/, 'no usage event the client did not ask for');
      }
    } else {
      for (const text of [gText, eText]) assert.ok((JSON.parse(text) as { choices: unknown[] }).choices.length >= 1);
    }
  });
}
