import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

test('bench --dataset: an unusable "max_tokens" or a line that is not an object is an error naming the file, line and field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-ds-'));
  const file = join(dir, 'd.jsonl');
  const s = await sim({ profile: 'instant' });
  try {
    for (const [line, message] of [
      ['{"prompt":"hi","max_tokens":"x"}', /"max_tokens" must be a whole number >= 1 \(got "x"\)/],
      ['{"prompt":"hi","max_tokens":0}', /"max_tokens" must be a whole number >= 1 \(got 0\)/],
      ['null', /expected a JSON object with "prompt" or "messages"/],
    ] as const) {
      writeFileSync(file, `{"prompt":"ok","max_tokens":4}\n${line}\n`);
      const r = await runKvgate(['bench', '--url', s.url, '--dataset', file]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^kvgate: --dataset ${file.replace(/[/.]/g, '\\$&')}:2: ${message.source}`, 'm'));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  } finally {
    await s.close();
  }
});

test('bench: --serial with --parallel is a conflict; an --out or --html that cannot be written fails before the run', async () => {
  const both = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--serial', '--parallel']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^kvgate: give --serial or --parallel, not both/m);
  // Port 1 refuses connections: had the run started, the error would be about the URL.
  const out = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--out', '/nonexistent-kvgate-dir/r.json']);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^kvgate: --out: cannot write \/nonexistent-kvgate-dir\/r\.json: no such directory \/nonexistent-kvgate-dir$/m);
  const html = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--html', tmpdir()]);
  assert.equal(html.code, 1);
  assert.match(html.stderr, /^kvgate: --html: cannot write .*: it is a directory$/m);
});

test('bench compare: an --html that cannot be written is refused before the table, naming --html (as bench --html); a report file that cannot be read is named with the cause in words', async () => {
  const s = await sim({ profile: 'instant' });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-compare-'));
  try {
    const report = join(dir, 'a.json');
    const run = await runKvgate(['bench', '--url', s.url, ...SMALL, '--out', report]);
    assert.equal(run.code, 0, run.stderr);
    for (const [html, why] of [
      ['/nonexistent-kvgate-dir/x.html', 'no such directory /nonexistent-kvgate-dir'],
      [dir, 'it is a directory'],
    ]) {
      const r = await runKvgate(['bench', 'compare', report, '--html', html]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `kvgate: --html: cannot write ${html}: ${why}\n`);
      assert.equal(r.stdout, '', 'no table before the refusal');
    }
    for (const [file, why] of [
      [join(dir, 'missing.json'), 'no such file'],
      [dir, 'it is a directory'],
    ]) {
      const r = await runKvgate(['bench', 'compare', report, file]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `kvgate: bench compare: cannot read ${file}: ${why}\n`, 'the cause in words, not ENOENT / EISDIR');
    }
    const ok = await runKvgate(['bench', 'compare', report, '--html', join(dir, 'c.html')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(readFileSync(join(dir, 'c.html'), 'utf8'), /<svg/);
  } finally {
    await s.close();
  }
});

test('simulate: --compare with no policy is an error; an unwritable --out fails before simulating', async () => {
  const compare = await runKvgate(['simulate', '--compare', '']);
  assert.equal(compare.code, 1);
  assert.match(compare.stderr, /option '--compare <policies>' argument '' is invalid\. An empty list \(an unset variable\?\)/);
  const endpoints = await runKvgate(['serve', '--port', '0', '--endpoints', ' , ']);
  assert.equal(endpoints.code, 1);
  assert.match(endpoints.stderr, /option '--endpoints <list>' argument ' , ' is invalid\. An empty list/);
  const out = await runKvgate(['simulate', '--profile', 'instant', '--num-requests', '5', '--out', '/nonexistent-kvgate-dir/o.json']);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^kvgate: --out: cannot write \/nonexistent-kvgate-dir\/o\.json: no such directory \/nonexistent-kvgate-dir$/m);
  assert.doesNotMatch(out.stderr, /simulate: .* done/, 'nothing simulated');
});

test('render: --gateway-name / --gateway-namespace without --kserve, or --gateway-class with it, is an error (the flag would be ignored)', async () => {
  const base = ['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o', '-'];
  const name = await runKvgate([...base, '--gateway-name', 'x']);
  assert.equal(name.code, 1);
  assert.match(name.stderr, /^kvgate: --gateway-name applies with --kserve only: without it kvgate renders its own Gateway, a-gateway of --gateway-class in --namespace$/m);
  const cls = await runKvgate([...base, '--kserve', '--gateway-class', 'foo']);
  assert.equal(cls.code, 1);
  assert.match(cls.stderr, /^kvgate: --gateway-class applies without --kserve only/m);
  const ok = await runKvgate([...base, '--kserve', '--gateway-name', 'x']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /gateway-name: x/);
});

test('--concurrency with open-loop arrivals (--rate, --stages, --sweep, --trace) is an error naming both, not silently ignored', async () => {
  // The URL is never contacted: the flags are refused first.
  for (const [cmd, open] of [
    [['bench', '--url', 'http://127.0.0.1:9', '--concurrency', '4'], ['--rate', '5']],
    [['bench', '--url', 'http://127.0.0.1:9', '--concurrent', '4'], ['--stages', '5:2']],
    [['bench', '--url', 'http://127.0.0.1:9', '--concurrency', '4'], ['--sweep', '1,2']],
    [['simulate', '--concurrency', '4'], ['--rate', '5']],
    [['simulate', '--concurrency', '4'], ['--stages', '5:2']],
    // (simulate plan has no --concurrency: it sizes a fleet for an open-loop load only.)
  ] as const) {
    const r = await runKvgate([...cmd, ...open]);
    assert.equal(r.code, 1, `${[...cmd, ...open].join(' ')}: ${r.stdout}`);
    assert.ok(r.stderr.includes(`--concurrency sizes a closed loop; ${open[0]} sends open-loop arrivals`), r.stderr);
  }
});

test('bench and simulate refuse load or workload flags that another given flag overrides (they were silently ignored)', async () => {
  const U = ['--url', 'http://127.0.0.1:9'];
  for (const [args, re] of [
    [['bench', ...U, '--rate', '50', '--stages', '2:1'], /give --rate or --stages, not both/],
    [['bench', ...U, '--sweep', '1,2', '--stages', '2:1'], /give --sweep or --stages, not both/],
    [['bench', ...U, '--trace', 'x.jsonl', '--rate', '5'], /give --rate or --trace, not both/],
    [['bench', ...U, '--serial', '--rate', '5'], /give --serial or --rate, not both/],
    [['bench', ...U, '--dataset', 'x.jsonl', '--workload', 'random'], /give --workload or --dataset, not both/],
    [['simulate', '--rate', '5', '--stages', '2:1'], /give --rate or --stages, not both/],
    [['simulate', '--trace', 'x.jsonl', '--workload', 'random'], /give --workload or --trace, not both/],
  ] as const) {
    const r = await runKvgate([...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('bench and simulate refuse a workload flag the chosen workload, --dataset or --trace does not read (it was silently ignored)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-shape-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, '{"prompt":"hi"}\n');
  const trace = join(dir, 't.jsonl');
  writeFileSync(trace, '{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [1]}\n');
  // Port 1 refuses connections: had a run started, the error would be about the URL.
  const U = ['--url', 'http://127.0.0.1:1'];
  const groups = '--num-groups does not apply to --workload random: it shapes --workload shared-prefix, generated-shared-prefix; drop it or choose one of those';
  for (const [args, message] of [
    [['bench', ...U, '--workload', 'random', '--num-groups', '3'], groups],
    [['bench', ...U, '--num-groups', '3', '--workload', 'random'], groups],
    [['simulate', '--workload', 'random', '--num-groups', '3', '--input-len', '10'], groups],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--workload', 'random', '--num-groups', '3'], groups],
    [['simulate', '--validate', '--workload', 'random', '--num-groups', '3'], groups],
    [['bench', ...U, '--input-len', '10'], '--input-len does not apply to --workload shared-prefix (the default): it shapes --workload random, decode-heavy'],
    [['bench', ...U, '--workload', 'multi-turn', '--multi-turn'], '--multi-turn does not apply to --workload multi-turn: it shapes --workload shared-prefix, generated-shared-prefix'],
    [['simulate', '--workload', 'prefix-repetition', '--turns', '2'], '--turns does not apply to --workload prefix-repetition: it shapes --workload multi-turn'],
    [['bench', ...U, '--dataset', data, '--prefix-len', '8'], '--prefix-len does not apply to --dataset (its lines are the requests): it shapes --workload prefix-repetition'],
    [['bench', ...U, '--prompt', 'hi', '--question-len', '8'], '--question-len does not apply to --prompt (one prompt, sent every time): it shapes --workload shared-prefix, generated-shared-prefix, multi-turn'],
    [['bench', ...U, '--prompt', 'hi', '--workload', 'random'], 'give --workload or --prompt, not both: --prompt decides what --workload would (it was ignored)'],
    [['simulate', '--trace', trace, '--output-len', '4'], '--output-len does not apply to --trace (a trace brings its own requests and lengths): it shapes --workload shared-prefix, generated-shared-prefix, prefix-repetition, multi-turn, random, decode-heavy and --dataset'],
    [['bench', ...U, '--time-scale', '0.5'], '--time-scale applies to --trace replays only: drop it, or give --trace FILE'],
    [['simulate', '--trace-window', '5s'], '--trace-window applies to --trace replays only: drop it, or give --trace FILE'],
  ] as const) {
    const r = await runKvgate([...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.ok(r.stderr.startsWith(`kvgate: ${message}`), `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /simulate: .* done|\n\s+at /, args.join(' '));
  }
  // The flags a source does read still run: --output-len with --dataset and --prompt, multi-turn's own, a trace's --time-scale.
  const s = await sim({ profile: 'instant' });
  try {
    for (const args of [
      ['bench', '--url', s.url, '--dataset', data, '--output-len', '2'],
      ['bench', '--url', s.url, '--prompt', 'hi', '--requests', '2', '--output-len', '2'],
    ]) {
      const r = await runKvgate(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  } finally {
    await s.close();
  }
  for (const args of [
    ['simulate', '--profile', 'instant', '--workload', 'multi-turn', '--num-conversations', '2', '--turns', '2', '--system-prompt-len', '20', '--question-len', '5', '--output-len', '2'],
    ['simulate', '--profile', 'instant', '--trace', trace, '--time-scale', '0.5', '--trace-window', '1s'],
  ]) {
    const r = await runKvgate(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('bench and simulate --help give every workload flag its default (per workload where it differs) and unit; plan offers no --concurrency it would refuse', async () => {
  const optionText = (help: string, flag: string) => (new RegExp(`\\n {2}${flag} ([\\s\\S]*?)(?=\\n {2}-)`).exec(help)?.[1] ?? '').replace(/\s+/g, ' ');
  for (const cmd of [['bench'], ['simulate'], ['simulate', 'plan']]) {
    const help = (await runKvgate([...cmd, '--help'])).stdout;
    const name = cmd.join(' ');
    for (const [flag, want] of [
      ['--num-groups', '(default: shared-prefix 10, generated-shared-prefix 64)'],
      ['--prompts-per-group', '(default: shared-prefix 10, generated-shared-prefix 16)'],
      ['--system-prompt-len', 'tokens (default: shared-prefix 100, generated-shared-prefix 2048, multi-turn 200)'],
      ['--question-len', 'tokens (default: shared-prefix 50, generated-shared-prefix 128, multi-turn 50)'],
      ['--output-len', '(default: shared-prefix 50, generated-shared-prefix 256, prefix-repetition 128, multi-turn 50, random 64, decode-heavy 1024, --dataset lines without max_tokens 64'],
      ['--prefix-len', 'tokens (default: 256)'],
      ['--suffix-len', 'tokens (default: 256)'],
      ['--num-prefixes', '(default: 10)'],
      ['--input-len', 'tokens (default: 256)'],
      ['--num-conversations', '(default: 10)'],
      ['--turns', '(default: 5)'],
      ['--num-requests', "(default: the workload's size: shared-prefix 100, generated-shared-prefix 1024, prefix-repetition 100, multi-turn 50, random 100, decode-heavy 100; a --dataset's lines; a whole --trace"],
      ['--rate', 'requests/s'],
    ] as const) {
      assert.ok(optionText(help, flag).includes(want), `${name} ${flag}: ${optionText(help, flag)}`);
    }
    if (cmd[0] === 'bench') assert.ok(optionText(help, '--output-len').includes('--prompt 64'), optionText(help, '--output-len'));
    assert.equal(/--concurrency/.test(help), name !== 'simulate plan', name);
  }
  const plan = await runKvgate(['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--concurrency', '4']);
  assert.equal(plan.code, 1);
  assert.match(plan.stderr, /unknown option '--concurrency'/);
});

test('bench: failed requests print the server\'s message (first of each distinct one, with counts), not only "HTTP 400"', async () => {
  const s = await sim({ profile: 'instant', maxModelLen: 64 });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-err-'));
  try {
    const out = join(dir, 'r.json');
    const r = await runKvgate(['bench', '--url', s.url, '--workload', 'random', '--input-len', '100', '--output-len', '2', '--num-requests', '3', '--concurrency', '1', '--out', out]);
    assert.equal(r.code, 1, r.stderr);
    const message = "This model's maximum context length is 64 tokens. However, you requested 100 tokens in the messages, Please reduce the length of the messages.";
    assert.ok(r.stderr.includes(`kvgate: no request completed: all 3 failed (3 × HTTP 400):\n  3 × HTTP 400: ${message}\n`), r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).summary.error_messages, [{ status: '400', message, count: 3 }]);
  } finally {
    await s.close();
  }
});
