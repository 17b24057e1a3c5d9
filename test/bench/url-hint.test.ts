import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';

// The README's openai example uses baseURL http://HOST:PORT/v1; a user who copies it into bench's
// --url got "not an OpenAI server: …/v1/v1/models returned 404" with no hint (verify had one).
test('bench --url ending in /v1: the 404 on /v1/v1/models says to drop /v1, naming the root URL', async () => {
  const { startSimServer } = await import('../../src/sim/server.js');
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  try {
    const r = await runKvgate(['bench', '--url', `${sim.url}/v1`, '--workload', 'random', '--num-requests', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^kvgate: not an OpenAI server: ${sim.url}/v1/v1/models returned 404 — --url ends in /v1 and bench adds /v1/models itself: give ${sim.url}$`, 'm'));
    // A root URL that is not an OpenAI server gets no such hint.
    const root = await runKvgate(['bench', '--url', `${sim.url}/nope`, '--workload', 'random', '--num-requests', '1']);
    assert.equal(root.code, 1, root.stderr);
    assert.match(root.stderr, /not an OpenAI server: .*\/nope\/v1\/models returned 404$/m);
  } finally {
    await sim.close();
  }
});

// verify's check (src/cli/base-url.ts): bench appended /v1/models after a ?query
// ('…?x=1/v1/models') and reported a port past 65535 as a bare "Invalid URL".
test('bench --url must be a base URL: a ?query, a #fragment or a port past 65535 is an error naming it, before any request', async () => {
  for (const [url, message] of [
    ['http://127.0.0.1:9/?x=1', /^kvgate: --url "http:\/\/127\.0\.0\.1:9\/\?x=1" must be a base URL without a \?query or #fragment/m],
    ['http://127.0.0.1:9#top', /^kvgate: --url "http:\/\/127\.0\.0\.1:9#top" must be a base URL without a \?query or #fragment/m],
    ['http://127.0.0.1:99999', /^kvgate: --url "http:\/\/127\.0\.0\.1:99999" is not a valid URL \(e\.g\. http:\/\/127\.0\.0\.1:8080; ports go up to 65535\)$/m],
  ] as const) {
    const r = await runKvgate(['bench', '--url', url, '--workload', 'random', '--num-requests', '1']);
    assert.equal(r.code, 1, url);
    assert.match(r.stderr, message, url);
    assert.doesNotMatch(r.stderr, /not an OpenAI server|Invalid URL|cannot reach/, url);
  }
});
