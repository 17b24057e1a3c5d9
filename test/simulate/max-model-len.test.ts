// `kvgate simulate` runs the production lifecycle, so a fleet whose replicas have different
// --max-model-len is routed as the gateway routes it (test/lifecycle/max-model-len-routing.test.ts):
// the simulated replicas list their window as `/v1/models` would, long prompts go only where they
// fit, and a 400 from a window the router's estimate undercounted moves on to a larger one. Each
// replica's `refused` count (its 400s, the gateway's failovers included) tells the two apart: the
// outgrown retry would also land a long prompt on the large replica if the context-fit filter were
// gone, but only after a small replica refused it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

const FLEET = ['--fleet', '2:qwen2.5-3b-tpu-v6e:max-model-len=4096,1:qwen2.5-3b-tpu-v6e:max-model-len=32768'];

interface Report {
  policies: { policy: string; summary: { ok: number; errors: number }; replicas: { requests: number; refused: number }[] }[];
}

async function simulateJson(args: string[]): Promise<Report> {
  const r = await runKvgate(['simulate', ...FLEET, '--compare', 'round-robin,kvgate', '--json', '--parallel', '1', ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

test('simulate, mixed max-model-len: 6,000-token prompts all go first to the 32,768-token replica, none refused on the way (round-robin included)', async () => {
  const rep = await simulateJson(['--workload', 'random', '--input-len', '6000', '--output-len', '8', '--num-requests', '12', '--concurrency', '3']);
  for (const p of rep.policies) {
    assert.deepEqual([p.summary.ok, p.summary.errors], [12, 0], p.policy);
    assert.deepEqual(p.replicas.map((r) => r.requests), [0, 0, 12], p.policy);
    // Without the filter round-robin would try the small replicas first for 2 requests in 3.
    assert.deepEqual(p.replicas.map((r) => r.refused), [0, 0, 0], `${p.policy}: no small replica was tried`);
  }
});

test('simulate, mixed max-model-len: prompts the estimate undercounts (newlines) are refused by a small replica and served by the large one', async () => {
  const dataset = join(mkdtempSync(join(tmpdir(), 'kvgate-mml-')), 'newlines.jsonl');
  // 12,000 newlines: 12,000 tokens to the engines, ~3,000 by the router's 4-characters estimate.
  writeFileSync(dataset, Array.from({ length: 9 }, (_, i) => JSON.stringify({ prompt: `q${i}${'\n'.repeat(12_000)}`, max_tokens: 4 })).join('\n') + '\n');
  const rep = await simulateJson(['--dataset', dataset, '--concurrency', '1']);
  for (const p of rep.policies) {
    assert.deepEqual([p.summary.ok, p.summary.errors], [9, 0], p.policy);
    assert.deepEqual(p.replicas.map((r) => r.requests), [0, 0, 9], p.policy);
    const refused = p.replicas.map((r) => r.refused);
    assert.equal(refused[2], 0, `${p.policy}: the large replica refused none`);
    assert.ok(refused[0] + refused[1] >= 1, `${p.policy}: a small replica took the first attempt of some (the estimate fits there): ${JSON.stringify(refused)}`);
  }
});
