// Workload shape and load flags are bounded as the engine flags are (src/engine/limits.ts): a named
// maximum (MAX_SHAPE_TOKENS, MAX_SHAPE_COUNT in bench/workloads.ts, MAX_RATE_RPS in bench/specs.ts),
// an error naming the flag and the limit, and the limit in --help. Unbounded, --num-groups 1e8 or
// --system-prompt-len 1e9 built text until the heap ran out, and --rate 1e9 crawled for hours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';

test('a shape flag or rate past its limit is a CLI error naming the flag and the limit, before anything runs', async () => {
  const cases: [string[], RegExp][] = [
    [['simulate', '--system-prompt-len', '1000000000'], /--system-prompt-len must be at most 16,777,216 tokens \(2\^24\)/],
    [['simulate', '--num-groups', '100000000'], /--num-groups must be at most 1,000,000, the most requests one run holds/],
    [['simulate', '--workload', 'multi-turn', '--turns', '1000001'], /--turns must be at most 1,000,000/],
    [['simulate', '--rate', '1e9'], /--rate must be a number in \[0\.001, 1000000\] \(got "1e9"\)/],
    [['simulate', '--stages', '5:10,2000000:1'], /^kvgate: --stages: a rate of 2000000 requests\/s is more than the 1,000,000 requests\/s a run takes$/m],
    [['bench', '--url', 'http://127.0.0.1:9', '--output-len', '16777217'], /--output-len must be at most 16,777,216 tokens/],
    [['bench', '--url', 'http://127.0.0.1:9', '--sweep', '1,3000000'], /^kvgate: --sweep: a rate of 3000000 requests\/s is more than the 1,000,000 requests\/s a run takes$/m],
    // An open loop whose rate × duration is past what a run holds (memory grew for minutes before).
    [['simulate', '--profile', 'instant', '--rate', '500000', '--duration', '10s'], /^kvgate: --rate × --duration: about 5,000,000 requests, more than the 1,000,000 a run holds/m],
    [['simulate', '--profile', 'instant', '--stages', '900000:1,200000:1'], /^kvgate: --stages: about 1,100,000 requests, more than the 1,000,000 a run holds/m],
    // Two counts within their limits whose product is not.
    [['simulate', '--num-groups', '100000', '--prompts-per-group', '100'], /^kvgate: --num-groups × --prompts-per-group: 10,000,000 requests, more than the 1,000,000 a run holds/m],
  ];
  for (const [args, named] of cases) {
    const r = await runKvgate(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, named, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
  }
});

test('--help states the limits of the shape flags and of --rate', async () => {
  for (const cmd of ['bench', 'simulate']) {
    const help = (await runKvgate([cmd, '--help'])).stdout.replace(/\n\s{20,}/g, ' ');
    const line = (flag: string) => help.split('\n').find((l) => l.trimStart().startsWith(flag)) ?? '';
    for (const flag of ['--system-prompt-len', '--question-len', '--output-len', '--input-len', '--prefix-len', '--suffix-len']) assert.match(line(flag), /at most 16,777,216/, `${cmd} ${flag}`);
    for (const flag of ['--num-groups', '--prompts-per-group', '--num-prefixes', '--num-conversations', '--turns']) assert.match(line(flag), /at most 1,000,000/, `${cmd} ${flag}`);
    assert.match(line('--rate'), /at most 1,000,000/, `${cmd} --rate`);
  }
});

test('every --stages stage is checked at option parsing: a rate under 0.001 req/s or a stage past 596h is an error naming --stages and the stage', async () => {
  const cases: [string[], RegExp][] = [
    [['simulate', '--profile', 'instant', '--stages', '0.0001:10'], /^kvgate: --stages: stage 1 \("0\.0001:10"\): a rate of 0\.0001 requests\/s is less than the 0\.001 requests\/s a stage takes/m],
    [['simulate', 'plan', '--profile', 'instant', '--slo', 'ttft_p90=2s', '--stages', '1:10,0.0005:10'], /^kvgate: --stages: stage 2 \("0\.0005:10"\): a rate of 0\.0005 requests\/s/m],
    [['simulate', '--profile', 'instant', '--stages', '1:10,1:3000000'], /^kvgate: --stages: stage 2 \("1:3000000"\): 3000000 s is longer than the 596h \(2,147,483\.647 s\) a stage takes/m],
    // No --url: the stage is refused while the options are parsed, before the action checks anything.
    [['bench', '--stages', '5:10,0.0001:10'], /^kvgate: --stages: stage 2 \("0\.0001:10"\): a rate of 0\.0001 requests\/s is less than the 0\.001/m],
    [['bench', '--url', 'http://127.0.0.1:9', '--sweep', '1,0.0001'], /^kvgate: --sweep: a rate of 0\.0001 requests\/s is less than the 0\.001 requests\/s a stage takes/m],
  ];
  for (const [args, named] of cases) {
    const r = await runKvgate(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, named, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
  }
});

test('--help of bench and simulate states the bounds of --rate and of each --stages stage', async () => {
  for (const cmd of [['bench'], ['simulate'], ['simulate', 'plan']]) {
    const help = (await runKvgate([...cmd, '--help'])).stdout.replace(/\n\s{20,}/g, ' ');
    const line = (flag: string) => help.split('\n').find((l) => l.trimStart().startsWith(flag)) ?? '';
    assert.match(line('--rate'), /at least 0\.001, at most 1,000,000/, `${cmd.join(' ')} --rate`);
    assert.match(line('--stages'), /rate in requests\/s, 0\.001 to 1,000,000; seconds more than 0, at most 596h/, `${cmd.join(' ')} --stages`);
  }
});

test('bench refuses an open loop past 1,000,000 requests (Σ rate × duration) as simulate does, before it sends anything', async () => {
  const cases: [string[], RegExp][] = [
    [['--rate', '500000', '--duration', '10s'], /^kvgate: --rate × --duration: about 5,000,000 requests, more than the 1,000,000 a run holds: lower the rate or the duration$/m],
    [['--stages', '900000:1,200000:1'], /^kvgate: --stages: about 1,100,000 requests, more than the 1,000,000 a run holds/m],
    [['--sweep', '400000,400000', '--duration', '2s'], /^kvgate: --sweep × --duration: about 1,600,000 requests, more than the 1,000,000 a run holds/m],
  ];
  for (const [args, named] of cases) {
    // Port 9 (discard) is never listened on here: a bench that started would report connection errors.
    const r = await runKvgate(['bench', '--url', 'http://127.0.0.1:9', ...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, named, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
  }
});
