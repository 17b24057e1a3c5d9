import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { ProgressLines } from '../../src/cli/progress-lines.js';

const RUN = ['--profile', 'instant', '--workload', 'random', '--input-len', '50', '--output-len', '20', '--num-requests', '40', '--rate', '20', '--duration', '8s', '--compare', 'random,kvgate', '--progress-interval', '0'];
const LINE = (prefix: string, label: string) => new RegExp(`^${prefix}: ${label} — \\d+(\\.\\d+)? (ms|s) simulated, \\d+(\\.\\d+)? (ms|s) wall$`, 'm');

test('progress lines: per run, at most once per interval of wall time, the first an interval after the start', () => {
  let now = 1000;
  const lines: string[] = [];
  const p = new ProgressLines({ prefix: 'simulate', intervalMs: 5000, write: (l) => lines.push(l), now: () => now });
  p.tick('random', 1000);
  now += 4999;
  p.tick('random', 2000);
  assert.deepEqual(lines, []);
  now += 1;
  p.tick('random', 12_500);
  p.tick('random', 13_000); // same instant: throttled
  p.tick('kvgate', 500); // another run has its own period
  assert.deepEqual(lines, ['simulate: random — 12.5 s simulated, 5 s wall\n', 'simulate: kvgate — 500 ms simulated, 5 s wall\n']);
  now += 5000;
  p.tick('random', 30_000);
  assert.equal(lines.at(-1), 'simulate: random — 30 s simulated, 10 s wall\n');
  assert.equal(ProgressLines.wanted(false, false), true);
  assert.equal(ProgressLines.wanted(true, true), true);
  assert.equal(ProgressLines.wanted(true, false), false);
  assert.equal(ProgressLines.wanted(true, undefined), false);
});

test('kvgate simulate and simulate plan print progress on stderr per policy; never on stdout, none when --json is piped', async () => {
  for (const parallel of ['1', '2']) {
    const r = await runKvgate(['simulate', ...RUN, '--parallel', parallel], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const policy of ['random', 'kvgate']) assert.match(r.stderr, LINE('simulate', policy), `--parallel ${parallel}: ${r.stderr}`);
    for (const policy of ['random', 'kvgate']) assert.match(r.stderr, new RegExp(`^simulate: ${policy} done — 1\\d\\d requests`, 'm'));
    assert.doesNotMatch(r.stdout, / simulated, .* wall$/m);
  }
  // The test's stdout is a pipe: --json keeps stderr free of progress lines, and stdout is only the JSON.
  const j = await runKvgate(['simulate', ...RUN, '--json'], { timeoutMs: 120_000 });
  assert.equal(j.code, 0, j.stderr);
  assert.doesNotMatch(j.stderr, / — \d+(\.\d+)? (ms|s) simulated, /);
  assert.doesNotMatch(j.stderr, / done — /);
  assert.match(j.stderr, /^simulate: wall .* simulated s per wall s\)$/m); // the final speed line stays
  assert.equal(JSON.parse(j.stdout).policies.length, 2);
  const plan = ['simulate', 'plan', ...RUN, '--slo', 'ttft_p90=10s', '--replica-hourly', '1', '--max-replicas', '2'];
  const p = await runKvgate(plan, { timeoutMs: 120_000 });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, LINE('simulate plan', 'random at 1 replica'));
  assert.match(p.stderr, LINE('simulate plan', 'kvgate at 1 replica'));
  const pj = await runKvgate([...plan, '--json'], { timeoutMs: 120_000 });
  assert.equal(pj.code, 0, pj.stderr);
  assert.doesNotMatch(pj.stderr, / — \d+(\.\d+)? (ms|s) simulated, /);
  assert.equal(JSON.parse(pj.stdout).policies.length, 2);
});
