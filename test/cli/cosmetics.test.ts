import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { sim } from '../sim/helpers.js';
import { defaultLabel } from '../../src/bench/run-bench.js';
import { countOf } from '../../src/cli/parse.js';

test('serve says "1 endpoint", not "1 endpoints"', async () => {
  assert.equal(countOf(1, 'endpoint'), '1 endpoint');
  assert.equal(countOf(2, 'endpoint'), '2 endpoints');
  const child = spawnKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9']);
  const exited = new Promise((r) => child.once('exit', r));
  try {
    assert.match(await waitForOutput(child, /kvgate serve listening on .*\n/, 30_000), /, 1 endpoint\)\n$/);
  } finally {
    child.kill('SIGINT');
    await exited;
  }
});

test('simulate --help gives --parallel one default; config presets prints whole first sentences', async () => {
  const help = await runKvgate(['simulate', '--help']);
  const parallel = /--parallel <n>([\s\S]*?)\n {2}-/.exec(help.stdout)![1];
  assert.equal(parallel.match(/default:/g)?.length, 1, parallel);
  assert.match(parallel.replace(/\s+/g, ' '), /\(default: CPU count, \d+ here\)/);
  const presets = await runKvgate(['config', 'presets']);
  assert.equal(presets.code, 0);
  const text = presets.stdout.replace(/\s+/g, ' ');
  const json = JSON.parse((await runKvgate(['config', 'presets', '--json'])).stdout) as { name: string; summary: string; description: string }[];
  for (const p of json) {
    assert.match(p.summary, /[.!?]$/, `${p.name}: a whole sentence`);
    assert.ok(text.includes(`${p.name} ${p.summary}`), `${p.name}: printed whole`);
  }
  // The kvgate preset's first line stops at "time to first token —": its sentence goes on to here.
  assert.match(text, /a charge for recomputing a prefix another endpoint caches on a busy endpoint\. least-request/);
  assert.match(json.find((p) => p.name === 'kvgate')!.description, /See docs\/predicted-ttft\.md\.$/);
});

test('bench names a run by what ran (trace, dataset, prompt), and cost names an --hourly row by its price', async () => {
  const workload = { workload: 'shared-prefix' as const, seed: 1 };
  assert.equal(defaultLabel({ workload, trace: { path: '/x/mooncake.jsonl', timeScale: 1, windowS: 60 } }), 'trace mooncake.jsonl');
  assert.equal(defaultLabel({ workload: { workload: 'dataset', dataset: '/x/d.jsonl', seed: 1 } }), 'dataset d.jsonl');
  assert.equal(defaultLabel({ workload }), 'shared-prefix');
  const s = await sim({ profile: 'instant' });
  const out = join(mkdtempSync(join(tmpdir(), 'kvgate-label-')), 'r.json');
  try {
    const r = await runKvgate(['bench', '--url', s.url, '--prompt', 'hello there', '--requests', '2', '--output-len', '2', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).label, 'prompt');
  } finally {
    await s.close();
  }
  const cost = JSON.parse((await runKvgate(['cost', '--hourly', '12.5', '--json'])).stdout) as { rows: { name: string }[] };
  assert.equal(cost.rows[0].name, '$12.50/h');
});
