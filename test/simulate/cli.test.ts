import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

const SMALL = ['--num-groups', '4', '--prompts-per-group', '4', '--system-prompt-len', '800', '--question-len', '40', '--output-len', '10', '--stages', '8:2,20:1'];

test('kvgate simulate --json is byte-identical across runs and writes --out and --html', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-simulate-cli-'));
  const args = ['simulate', '--compare', 'random,kvgate', ...SMALL, '--seed', '3', '--json'];
  const a = await runKvgate([...args, '--out', join(dir, 'a.json'), '--html', join(dir, 'a.html')], { timeoutMs: 120_000 });
  const b = await runKvgate(args, { timeoutMs: 120_000 });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), a.stdout);
  const report = JSON.parse(a.stdout);
  assert.equal(report.kvgate_simulate, 1);
  assert.deepEqual(report.policies.map((p: { policy: string }) => p.policy), ['random', 'kvgate']);
  assert.equal(report.config.seed, 3);
  assert.match(a.stderr, /simulated s per wall s/);
  assert.match(readFileSync(join(dir, 'a.html'), 'utf8'), /<svg[^>]+aria-label="TTFT against offered load"/);
});

test('kvgate simulate prints the human table with the oracle and the speed', async () => {
  const r = await runKvgate(['simulate', '--preset', 'gie-default', '--replicas', '2', ...SMALL], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kvgate simulate — 2 × qwen2\.5-3b-tpu-v6e; seed 1/);
  assert.match(r.stdout, /hit % \(oracle %\)\s+\d+\.\d \(\d+\.\d\)/);
  assert.match(r.stdout, /per stage \(TTFT p90 ms · prefix hit %\)/);
  assert.match(r.stdout, /simulated s per wall s/);
  assert.doesNotMatch(r.stdout, /errors by HTTP status/); // only when a request failed
});

test('failed requests say why (status in the table, the server\'s message on stderr); none completed is exit 1, as bench', async () => {
  // Prompts of ~840 tokens on replicas with a 300-token context: every replica answers 400, as vLLM.
  // A dataset (a synthetic workload that fits no replica is refused before the run, below).
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-simulate-400-'));
  const long = join(dir, 'long.jsonl');
  writeFileSync(long, Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `q${i} ${'abc '.repeat(840)}` })).join('\n') + '\n');
  const r = await runKvgate(['simulate', '--preset', 'round-robin', '--replicas', '2', '--max-model-len', '300', '--dataset', long, '--output-len', '10', '--stages', '8:2,20:1'], { timeoutMs: 120_000 });
  assert.equal(r.code, 1, r.stderr);
  const total = /requests ok \/ total\s+0 \/ (\d+)/.exec(r.stdout)?.[1];
  assert.ok(total, r.stdout);
  assert.match(r.stdout, new RegExp(`errors by HTTP status\\s+400×${total}\\n`));
  // One distinct message (every prompt is 840 tokens), with its count, in vLLM's words.
  assert.match(r.stderr, new RegExp(`^kvgate: no request completed: all ${total} failed:\\n  ${total} × HTTP 400: This model's maximum context length is 300 tokens\\. However, you requested 8\\d\\d tokens in the messages`, 'm'));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  // The JSON says it too, per distinct message; --compare names the policy that completed nothing.
  const five = join(dir, 'five-hundred.jsonl');
  writeFileSync(five, `${JSON.stringify({ prompt: 'abc '.repeat(500) })}\n`);
  const j = await runKvgate(['simulate', '--compare', 'random,round-robin', '--dataset', five, '--max-model-len', '300', '--num-requests', '3', '--concurrency', '1', '--json'], { timeoutMs: 120_000 });
  assert.equal(j.code, 1, j.stderr);
  for (const p of JSON.parse(j.stdout).policies) {
    assert.deepEqual(p.summary.error_messages, [{ status: '400', count: 3, message: "This model's maximum context length is 300 tokens. However, you requested 500 tokens in the messages, Please reduce the length of the messages." }]);
  }
  assert.match(j.stderr, /^kvgate: no request completed under random: all 3 failed:$/m);
  assert.match(j.stderr, /^kvgate: no request completed under round-robin: all 3 failed:$/m);
});

test('a synthetic workload whose prompt (+ output) fits no replica is refused before the run, naming the flags and the numbers', async () => {
  const cases: [string[], RegExp][] = [
    [['--workload', 'random', '--input-len', '500', '--max-model-len', '300'], /^kvgate: --input-len: prompts of 500 tokens are not shorter than the max_model_len of 300 tokens \(--max-model-len\); replicas answer 400 unless prompt < max_model_len and prompt \+ max_tokens <= max_model_len/m],
    [['--system-prompt-len', '800', '--question-len', '40', '--output-len', '10', '--max-model-len', '845'], /^kvgate: --system-prompt-len \+ --question-len \+ --output-len: prompts of 840 tokens \(800 \+ 40\) \+ 10 output tokens = 850, more than the max_model_len of 845 tokens \(--max-model-len\)/m],
    [['--profile', 'qwen2.5-3b-tpu-v6e', '--workload', 'prefix-repetition', '--prefix-len', '30000', '--suffix-len', '3000'], /^kvgate: --prefix-len \+ --suffix-len: prompts of 33,000 tokens \(30000 \+ 3000\) are not shorter than the max_model_len of 32,768 tokens \(profile qwen2\.5-3b-tpu-v6e's, --max-model-len to change it\)/m],
    // A mixed fleet: measured against its largest window, where the router would send the request.
    [['--fleet', '1:instant:max-model-len=1000,1:instant:max-model-len=2000', '--workload', 'random', '--input-len', '2000'], /^kvgate: --input-len: prompts of 2,000 tokens are not shorter than the max_model_len of 2,000 tokens \(--fleet's max-model-len; the largest in the fleet\)/m],
  ];
  for (const [args, named] of cases) {
    const r = await runKvgate(['simulate', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, named, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
    assert.doesNotMatch(r.stderr, /simulate: .* done/, 'refused before any policy ran');
  }
  // One token of room is enough: the workload runs (prompt 840 + 10 output = 850 = max_model_len).
  const fits = await runKvgate(['simulate', '--profile', 'instant', '--replicas', '1', '--num-groups', '1', '--prompts-per-group', '2', '--system-prompt-len', '800', '--question-len', '40', '--output-len', '10', '--max-model-len', '850', '--concurrency', '1', '--json'], { timeoutMs: 60_000 });
  assert.equal(fits.code, 0, fits.stderr);
  assert.deepEqual([JSON.parse(fits.stdout).policies[0].summary.ok, JSON.parse(fits.stdout).policies[0].summary.errors], [2, 0]);
});

test('the speed line keeps three digits: a sub-second wall time is in ms, not "0.0 s"', async () => {
  const r = await runKvgate(['simulate', '--profile', 'instant', '--workload', 'random', '--input-len', '20', '--output-len', '2', '--num-requests', '4'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const m = /^wall (\d+(?:\.\d+)?) (ms|s) for (\d+(?:\.\d+)?) (ms|s) simulated \((\d+(?:\.\d+)?(?:e-?\d+)?) simulated s per wall s\)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  const secs = (v: string, unit: string) => Number(v) / (unit === 'ms' ? 1000 : 1);
  const wall = secs(m[1], m[2]);
  const simulated = secs(m[3], m[4]);
  assert.ok(wall > 0 && simulated > 0, m[0]);
  // The three numbers agree to their printed precision (3 significant digits each: within 2 %).
  assert.ok(Math.abs(simulated / wall / Number(m[5]) - 1) < 0.02, m[0]);
});

test('bad simulate flags get a message naming the flag, never a stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-simulate-bad-'));
  const badTrace = join(dir, 'bad.jsonl');
  writeFileSync(badTrace, '{"timestamp": 0, "input_length": 600, "output_length": 3, "hash_ids": [1]}\n');
  for (const [args, re] of [
    [['--compare', 'random,no-such-policy'], /unknown policy "no-such-policy"/],
    [['--stages', '5-10'], /--stages entries look like rate:seconds/],
    [['--fleet', '2:instant:warp=9'], /--fleet: unknown engine flag "warp"/],
    [['--replicas', '0'], /--replicas must be an integer >= 1/],
    [['--slo', 'speed=fast'], /--slo: "speed=fast"/],
    [['--trace', join(dir, 'missing.jsonl')], /--trace .*missing\.jsonl: cannot read: ENOENT/],
    [['--trace', badTrace], /bad\.jsonl:1: "hash_ids" has 1 ids but input_length 600 needs 2 blocks of 512 tokens/],
    [['--profile', 'nope'], /unknown profile "nope"/],
    [['--fleet', '1:instant', '--replicas', '5'], /give --replicas or --fleet, not both/],
    [['--fleet', '1:instant', '--profile', 'instant'], /give --profile or --fleet, not both/],
    [['--compare', 'random', '--preset', 'kvgate'], /give --preset or --compare, not both/],
    [['--preset', 'random', '--config-file', 'bench/fixtures/load-scheduling.yaml'], /give --preset or --config-file, not both/],
    [['--block-size', '7'], /--block-size must be 8, 16, 32, 64, 128 tokens, as kvgate sim and vLLM take \(got 7\)/],
    [['--fleet', '2:instant:block-size=12'], /--block-size must be 8, 16, 32, 64, 128 tokens.*\(got 12\)/],
    [['--rate', '1', '--duration', '0.001'], /the load sent no request \(1 req\/s for 0\.001 s\): raise --duration or --rate, or the --stages/],
  ] as const) {
    const r = await runKvgate(['simulate', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  }
});

test('kvgate simulate plan: fewest replicas per policy meeting the SLO, priced from the price book', async () => {
  const r = await runKvgate(
    ['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '10', '--duration', '10s', '--compare', 'round-robin,gie-default', '--profile', 'qwen3-32b-h100-tp2', '--workload', 'random', '--input-len', '3000', '--output-len', '20', '--num-requests', '200', '--max-replicas', '8', '--json'],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.equal(plan.profile, 'qwen3-32b-h100-tp2');
  const gpu = 11.0612; // data/prices.json: one H100 on demand
  assert.equal(plan.replica_hourly_usd, +(2 * gpu).toFixed(3)); // TP2: two GPUs a replica
  for (const p of plan.policies) {
    // 30,000 uncached prompt tokens/s need more than one replica prefilling 15,928 tokens/s.
    assert.ok(p.replicas > 1 && p.replicas <= 8, JSON.stringify(p));
    const best = p.tries.find((t: { replicas: number }) => t.replicas === p.replicas);
    assert.equal(best.met, true);
    assert.ok(best.values[0].value_ms <= 1000);
    // The answer is minimal: one replica fewer was tried and missed.
    assert.equal(p.tries.find((t: { replicas: number }) => t.replicas === p.replicas - 1).met, false);
    // (The JSON rounds to 3 decimals: compare relatively.)
    const near = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.abs(b);
    assert.ok(near(p.cost.hourly, 2 * gpu * p.replicas));
    assert.ok(near(p.cost.monthly, p.cost.hourly * 720));
    assert.ok(near(p.cost.perMillionRequests, (p.cost.hourly / (p.throughput_rps * 3600)) * 1e6));
  }
  const out = join(mkdtempSync(join(tmpdir(), 'kvgate-plan-')), 'plan.json');
  const human = await runKvgate(['simulate', 'plan', '--slo', 'ttft_p90=300ms', '--rate', '4', '--duration', '5s', '--replica-hourly', '3', '--out', out, ...SMALL.slice(0, -2)], { timeoutMs: 120_000 });
  assert.equal(human.code, 0, human.stderr);
  assert.equal(JSON.parse(readFileSync(out, 'utf8')).policies.length, 1, '--out holds the plan as JSON');
  assert.match(human.stdout, /kvgate simulate plan — SLO ttft_p90=300ms; qwen2\.5-3b-tpu-v6e replicas at \$3\.00\/h/);
  assert.match(human.stdout, /\$\/1M requests/);
  const bad = await runKvgate(['simulate', 'plan', '--slo', 'ttft=300', '--rate', '4'], { timeoutMs: 60_000 });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--slo needs percentile targets for plan/);
});
