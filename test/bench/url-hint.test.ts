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
