import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

const PLAN = ['simulate', 'plan', '--profile', 'instant', '--workload', 'random', '--input-len', '50', '--output-len', '4', '--num-requests', '8', '--rate', '4', '--duration', '2s', '--max-replicas', '2'];

test('simulate plan: an empty --slo, an unknown --profile, a bad --pricing or --prices file name the flag, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-plan-bad-'));
  const badJson = join(dir, 'bad.json');
  writeFileSync(badJson, '{not json');
  const badShape = join(dir, 'shape.json');
  writeFileSync(badShape, '{"items": 3}');
  for (const [args, re] of [
    [['--slo', ''], /^kvgate: --slo is empty \(got ""\)/],
    [['--slo', ' , '], /^kvgate: --slo is empty/],
    [['--slo', 'ttft_p90=1s', '--profile', 'nope'], /^kvgate: --profile: unknown profile "nope" \(available: .*instant/],
    [['--slo', 'ttft_p90=1s', '--pricing', '5y', '--accelerator', 'nvidia-h100'], /^kvgate: --pricing 5y: the price book has no "5y" price for /],
    [['--slo', 'ttft_p90=1s', '--pricing', '1y', '--replica-hourly', '3'], /^kvgate: give --pricing or --replica-hourly, not both/],
    [['--slo', 'ttft_p90=1s', '--prices', badJson, '--accelerator', 'nvidia-h100'], /^kvgate: --prices .*bad\.json: cannot read price file/],
    [['--slo', 'ttft_p90=1s', '--prices', badShape, '--accelerator', 'nvidia-h100'], /^kvgate: --prices .*shape\.json: /],
    [['--slo', 'ttft_p90=1s', '--prices', join(dir, 'missing.json'), '--accelerator', 'nvidia-h100'], /^kvgate: --prices .*missing\.json: cannot read price file: ENOENT/],
    [['--slo', 'ttft_p90=1s,ttft_p90=2s'], /^kvgate: --slo: ttft_p90 is given twice \("ttft_p90=1s" and "ttft_p90=2s"\)/],
    [['--slo', 'ttft_p90=1s', '--hours-per-month', '1000'], /--hours-per-month must be a number in \[1, 744\] \(got "1000"\)/],
    // A missed SLO names the fleet size with its unit ("at 2" read as a rate).
    [['--slo', 'ttft_p90=0', '--replica-hourly', '1'], /^kvgate: no fleet of 1 to 2 replicas meets the SLO ttft_p90=0: ttft_p90 [\d.]+ ms > 0 ms at 2 replicas$/],
  ] as const) {
    const r = await runKvgate([...PLAN, ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(re.source, 'm'), args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|Cannot read properties/, args.join(' '));
  }
  // kvgate simulate takes the same --slo and --profile checks.
  for (const [args, re] of [
    [['--slo', ''], /^kvgate: --slo is empty/],
    [['--profile', 'nope'], /^kvgate: --profile: unknown profile "nope"/],
    [['--fleet', '1:nope'], /^kvgate: --fleet: unknown profile "nope"/],
  ] as const) {
    const r = await runKvgate(['simulate', '--workload', 'random', '--num-requests', '2', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(re.source, 'm'), args.join(' '));
  }
});

test('simulate plan counts failed requests: a size whose requests fail does not meet the SLO; no answer for any policy is exit 1, saying why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-plan-failed-'));
  const data = join(dir, 'mix.jsonl');
  // One short prompt, one far over a 300-token context: the second is refused with 400 at every fleet size.
  writeFileSync(data, `${JSON.stringify({ prompt: 'Where is the station?' })}\n${JSON.stringify({ prompt: 'many words here '.repeat(200) })}\n`);
  const args = ['simulate', 'plan', '--profile', 'instant', '--dataset', data, '--output-len', '4', '--max-model-len', '300', '--rate', '4', '--duration', '3s', '--max-replicas', '2', '--replica-hourly', '1', '--slo', 'ttft_p90=5s', '--compare', 'random,round-robin'];
  const j = await runKvgate([...args, '--json'], { timeoutMs: 120_000 });
  assert.equal(j.code, 1, j.stderr);
  const plan = JSON.parse(j.stdout);
  for (const p of plan.policies) {
    assert.equal(p.replicas, null, JSON.stringify(p));
    assert.ok(p.failed > 0 && p.errors_by_status['400'] === p.failed, JSON.stringify(p));
    for (const t of p.tries) {
      // The successes alone meet the TTFT target; the failures make the size miss.
      assert.equal(t.met, false);
      assert.ok(t.values[0].value_ms !== null && t.values[0].value_ms <= 5000, JSON.stringify(t));
      assert.ok(t.failed > 0 && t.failed < t.requests && t.errors_by_status['400'] === t.failed, JSON.stringify(t));
    }
    assert.match(j.stderr, new RegExp(`^kvgate: no fleet of 1 to 2 replicas meets the SLO ttft_p90=5s under ${p.policy}: ${p.failed} of \\d+ requests failed at 2 replicas \\(400×${p.failed}\\)`, 'm'));
  }
  assert.match(j.stderr, /^ {2}\d+ × HTTP 400: This model's maximum context length is 300 tokens/m);
  // The human table has the failed column.
  const h = await runKvgate(args, { timeoutMs: 120_000 });
  assert.equal(h.code, 1, h.stderr);
  assert.match(h.stdout, /^policy\s+replicas\s+failed\s+ttft_p90 ms/m);
  assert.match(h.stdout, /^random\s+> 2\s+\d+ of \d+ \(400×\d+\)/m);
});
