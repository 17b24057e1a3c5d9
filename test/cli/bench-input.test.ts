import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';
import { sim } from '../sim/helpers.js';
import { parseSlo } from '../../src/bench/specs.js';

const SMALL = ['--num-requests', '2', '--concurrency', '1', '--workload', 'random', '--input-len', '10', '--output-len', '2'];

test('bench --slo takes what simulate --slo takes: units, e2e and percentile targets; a bare number is ms', async () => {
  assert.deepEqual(parseSlo('ttft=1s,tpot=50').request, { ttftMs: 1000, tpotMs: 50 });
  assert.deepEqual(parseSlo('ttft_p90=2000,e2e=1.5s').request, { ttftMs: 2000, e2eMs: 1500 });
  const s = await sim({ profile: 'instant' });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-slo-'));
  try {
    for (const [spec, want] of [['ttft=1s', { ttftMs: 1000 }], ['ttft_p90=2000,e2e=3s', { ttftMs: 2000, e2eMs: 3000 }]] as const) {
      const out = join(dir, 'r.json');
      const r = await runKvgate(['bench', '--url', s.url, ...SMALL, '--slo', spec, '--out', out, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(readFileSync(out, 'utf8'));
      assert.deepEqual(report.config.slo, want, spec);
      assert.equal(typeof JSON.parse(r.stdout).goodput_rps, 'number', spec);
    }
    const bad = await runKvgate(['bench', '--url', s.url, ...SMALL, '--slo', 'ttft=soon']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^kvgate: --slo ttft: "soon" is not a duration/m);
  } finally {
    await s.close();
  }
});
