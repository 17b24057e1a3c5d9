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
