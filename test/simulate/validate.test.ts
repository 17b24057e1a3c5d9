import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

test('simulate --validate runs the workload in virtual time and against kvgate up, and compares them', async () => {
  const r = await runKvgate(
    ['simulate', '--validate', '--preset', 'gie-default', '--profile', 'qwen2.5-3b-tpu-v6e', '--num-groups', '3', '--prompts-per-group', '4', '--system-prompt-len', '400', '--question-len', '30', '--output-len', '8', '--concurrency', '4', '--json'],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.kvgate_simulate_validate, 1);
  assert.equal(v.config.policy, 'gie-default');
  // Both sides ran the same requests: every one answered, the same prompts token for token
  // (the simulator tokenizes exactly as kvgate sim does), and each served by some replica.
  assert.equal(v.virtual.requests_ok, 12);
  assert.equal(v.real.requests_ok, 12);
  assert.equal(v.virtual.prompt_tokens, v.real.prompt_tokens);
  assert.equal(v.virtual.per_replica.length, 3);
  assert.equal(v.real.per_replica.reduce((a: number, b: number) => a + b, 0), 12);
  for (const k of ['throughput_rps', 'ttft_p50_ms', 'ttft_p90_ms', 'tpot_p50_ms', 'e2e_p50_ms']) {
    assert.ok(v.virtual[k] > 0 && v.real[k] > 0, k);
    assert.ok(Math.abs(v.difference_pct[k] - ((v.virtual[k] - v.real[k]) / v.real[k]) * 100) < 0.1, k); // the JSON rounds to 3 decimals
  }
  const human = await runKvgate(['simulate', '--validate', '--preset', 'round-robin', '--num-groups', '2', '--prompts-per-group', '3', '--system-prompt-len', '200', '--question-len', '20', '--output-len', '5', '--concurrency', '2'], { timeoutMs: 120_000 });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /virtual time\s+real time\s+difference/);
  assert.match(human.stdout, /TTFT p50 ms\s+\d+\.\d\s+\d+\.\d\s+[+-]\d+\.\d %/);
  const bad = await runKvgate(['simulate', '--validate', '--fleet', '2:qwen2.5-3b-tpu-v6e,1:llama3-8b-h100'], { timeoutMs: 60_000 });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--validate runs the fleet `kvgate up` builds/);
});

test('simulate --validate runs the same configuration on both sides: engine and gateway flags reach kvgate up, and KV events are on in both (or off in both)', async () => {
  const args = ['simulate', '--validate', '--preset', 'kvgate', '--kv-cache-size', '400', '--max-num-seqs', '8', '--num-groups', '2', '--prompts-per-group', '3', '--system-prompt-len', '300', '--question-len', '20', '--output-len', '5', '--concurrency', '2', '--json'];
  const out = join(mkdtempSync(join(tmpdir(), 'kvgate-validate-')), 'v.json');
  const on = await runKvgate([...args, '--out', out], { timeoutMs: 120_000 });
  assert.equal(on.code, 0, on.stderr);
  const v = JSON.parse(on.stdout);
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), v, '--out holds the same JSON');
  assert.equal(v.config.path.kvEvents, true);
  assert.equal(v.config.real_fleet.kv_events, true, JSON.stringify(v.config.real_fleet));
  assert.deepEqual(v.config.real_fleet.up_args.slice(-4), ['--kv-cache-size', '400', '--max-num-seqs', '8']);
  assert.equal(v.real.requests_ok, 6);
  const upArg = (a: string[], flag: string) => (a.includes(flag) ? a[a.indexOf(flag) + 1] : undefined);
  assert.equal(upArg(v.config.real_fleet.up_args, '--metrics-interval'), '50ms', 'the scrape period the virtual side modelled');
  assert.ok(!v.config.real_fleet.up_args.includes('--no-flow-control'));
  assert.equal(upArg(v.config.real_fleet.up_args, '--seed'), '1', 'the default seed, the engines\' as well as the workload\'s');
  // The gateway flags: the virtual gateway without flow control, scraping every 20 ms, and the real one too; and --seed.
  const off = await runKvgate([...args, '--no-kv-events', '--no-flow-control', '--metrics-interval', '20ms', '--seed', '7'], { timeoutMs: 120_000 });
  assert.equal(off.code, 0, off.stderr);
  const w = JSON.parse(off.stdout);
  assert.equal(w.config.path.kvEvents, false);
  assert.equal(w.config.real_fleet.kv_events, false);
  assert.equal(w.config.path.flowControl, false);
  assert.equal(w.config.path.metricsIntervalMs, 20);
  assert.ok(w.config.real_fleet.up_args.includes('--no-flow-control'), w.config.real_fleet.up_args.join(' '));
  assert.equal(upArg(w.config.real_fleet.up_args, '--metrics-interval'), '20ms');
  assert.equal(w.config.seed, 7);
  assert.equal(upArg(w.config.real_fleet.up_args, '--seed'), '7', 'kvgate up seeds its replicas as the virtual side seeded its engines');
  assert.equal(w.real.requests_ok, 6);
});

test('simulate --validate refuses flags it has no use for, naming the flag, before anything runs', async () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'kvgate-validate-')), 'trace.jsonl');
  writeFileSync(trace, '{"timestamp":0,"input_length":600,"output_length":4,"hash_ids":[1,2]}\n');
  for (const [flags, named] of [
    [['--slo', 'ttft=1s'], /--slo does not apply to --validate/],
    [['--parallel', '2'], /--parallel does not apply to --validate/],
    [['--trace', trace, '--trace-window', '10s'], /--trace-window does not apply to --validate/],
    [['--html', '/tmp/x.html'], /--html does not apply to --validate/],
    // Only the flag given is named (both were, whichever one came).
    [['--max-model-len', '4096'], /--validate runs the fleet `kvgate up` builds \(one --profile, its engine flags\): drop --max-model-len$/m],
    [['--fleet', '2:instant'], /: drop --fleet$/m],
  ] as const) {
    const r = await runKvgate(['simulate', '--validate', ...flags], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, named);
    assert.doesNotMatch(r.stderr, /virtual time:|starting kvgate up/, 'refused before the virtual run');
  }
});

test('simulate --validate --compare FILE.yaml: the real side runs the same EndpointPickerConfig (kvgate up --config-file), not a preset named after the file', async () => {
  const r = await runKvgate(
    ['simulate', '--validate', '--compare', 'bench/fixtures/load-scheduling.yaml', '--num-groups', '2', '--prompts-per-group', '2', '--system-prompt-len', '200', '--question-len', '20', '--output-len', '5', '--concurrency', '2', '--json'],
    { timeoutMs: 120_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.config.policy, 'load-scheduling');
  const args: string[] = v.config.real_fleet.up_args;
  assert.equal(args[args.indexOf('--config-file') + 1], 'bench/fixtures/load-scheduling.yaml', args.join(' '));
  assert.ok(!args.includes('--preset'), args.join(' '));
  assert.equal(v.config.real_fleet.preset, null, 'kvgate up reported no preset: it ran the config file');
  assert.equal(v.real.requests_ok, 4);
});

test('simulate --validate reports bad input before it starts anything: a value kvgate up refuses, or inputs under which no request completes', async () => {
  const small = ['--num-groups', '2', '--prompts-per-group', '2', '--system-prompt-len', '200', '--question-len', '20', '--output-len', '5', '--concurrency', '2'];
  // The virtual side scrapes every 0.5 ms happily; kvgate up's timers cannot (at least 1 ms).
  const period = await runKvgate(['simulate', '--validate', '--metrics-interval', '0.5ms', ...small], { timeoutMs: 60_000 });
  assert.equal(period.code, 1, period.stderr);
  assert.match(period.stderr, /kvgate up, the real side of --validate, refuses --metrics-interval: .*at least 1ms/);
  assert.doesNotMatch(period.stderr, /virtual time:|starting kvgate up/, 'refused before the virtual run');
  // A KV cache smaller than any prompt: every request fails in virtual time, and would in real time.
  const tiny = await runKvgate(['simulate', '--validate', '--kv-cache-size', '3', ...small], { timeoutMs: 60_000 });
  assert.equal(tiny.code, 1, tiny.stderr);
  assert.match(tiny.stderr, /no request completed in virtual time \(all 4 failed\).*kvgate up was not started/);
  assert.match(tiny.stderr, /4 × HTTP 400: request needs \d+ tokens of KV cache/, 'what the engines said');
  assert.doesNotMatch(tiny.stderr, /starting kvgate up/);
});
