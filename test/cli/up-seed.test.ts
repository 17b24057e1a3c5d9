// kvgate up --seed: the replicas' seed (vLLM's and kvgate sim's --seed), replica i seeded seed + i
// as kvgate simulate seeds its modelled replicas, so simulate --validate runs both sides on one seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

/** Starts `kvgate up` with `args`, sends one completion (no request seed) straight to each replica, stops it; the answers' texts. */
async function firstAnswers(args: string[]): Promise<string[]> {
  const child = spawnKvgate(['up', '--json', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', ...args]);
  try {
    const { replicas } = JSON.parse(await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000)) as { replicas: string[] };
    const texts: string[] = [];
    for (const url of replicas) {
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'Once upon a time', max_tokens: 12, ignore_eos: true }) });
      assert.equal(r.status, 200);
      texts.push(((await r.json()) as { choices: { text: string }[] }).choices[0].text);
    }
    return texts;
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
}

test('up --seed N seeds replica i with N + i: the same seed gives the same answers, and replica 1 of seed 5 answers as replica 0 of seed 6', async () => {
  const [a, b, c] = await Promise.all([firstAnswers(['--seed', '5', '--replicas', '2']), firstAnswers(['--seed', '5', '--replicas', '2']), firstAnswers(['--seed', '6', '--replicas', '1'])]);
  assert.deepEqual(a, b, 'two runs with one seed answer alike');
  assert.notEqual(a[0], a[1], 'replicas of one fleet are seeded apart');
  assert.equal(c[0], a[1], 'seed 6, replica 0 = seed 5, replica 1 (seed + i)');
  assert.notEqual(c[0], a[0], 'the seed is used: seed 6 answers otherwise than seed 5');
});
