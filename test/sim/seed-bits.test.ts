// `kvgate sim --seed` reaches the synthetic logprobs whole: they were hashed from the seed's low
// 32 bits, so --seed 1 and --seed 4294967297 answered alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL, sim, post } from './helpers.js';

/** Logprobs of one seeded request (its own `seed` fixes the tokens) on a sim started with `seed`. */
async function logprobsOf(seed: number) {
  const s = await sim({ seed });
  try {
    const r = await post(s, '/v1/completions', { model: MODEL, prompt: 'The same words each time', max_tokens: 5, logprobs: 2, echo: true, seed: 7 });
    assert.equal(r.status, 200, r.text);
    return { text: r.json.choices[0].text, logprobs: r.json.choices[0].logprobs };
  } finally {
    await s.close();
  }
}

test('sim seeds 1 and 1 + 2^32 give different logprobs; one seed gives the same', async () => {
  const a = await logprobsOf(1);
  assert.deepEqual(await logprobsOf(1), a);
  const b = await logprobsOf(1 + 2 ** 32);
  assert.equal(b.text, a.text, 'the request seed fixes the tokens');
  assert.notDeepEqual(b.logprobs.token_logprobs, a.logprobs.token_logprobs);
});
