// One --seed rule for bench, simulate, sim and up: an integer from 0 to 2^53-1, said in --help.
// Past 2^53-1 numbers round (two seeds typed apart ran alike); -1 was taken by sim and up but
// refused by simulate (vLLM refuses it: numpy's seeding takes only seeds >= 0); and `up` with a
// seed whose seed + i passed 2^53-1 failed with the sim's raw schema text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';
import { createRng } from '../../src/shared/rng.js';
import { buildWorkload } from '../../src/bench/workloads.js';

const COMMANDS: string[][] = [['bench', '--url', 'http://127.0.0.1:9'], ['simulate'], ['sim'], ['up']];

test('--seed out of 0 … 2^53-1 is the same CLI error naming --seed on every command, before anything runs', async () => {
  for (const cmd of COMMANDS) {
    for (const seed of ['-1', '9007199254740992', '9007199254740993', '1.5', 'x']) {
      const r = await runKvgate([...cmd, '--seed', seed], { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${cmd[0]} --seed ${seed}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--seed must be an integer from 0 to 2\\^53-1 \\(9007199254740991\\) \\(got "${seed.replace('.', '\\.')}"\\)`), `${cmd[0]} --seed ${seed}`);
      assert.equal(r.stdout, '', `${cmd[0]} --seed ${seed}: nothing ran`);
    }
  }
});

test('up, simulate and simulate plan refuse a --seed whose last replica (seed + replicas - 1) passes 2^53-1, naming --seed, without the schema text', async () => {
  const cases: [string[], RegExp][] = [
    [['up', '--seed', '9007199254740991', '--replicas', '2', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0'], /^kvgate: --seed 9007199254740991: replica i runs with seed \+ i, so 2 replicas \(--replicas\) need seeds up to 9007199254740992, past 2\^53-1 \(9007199254740991\): give --seed 9007199254740990 or lower$/m],
    [['simulate', '--profile', 'instant', '--seed', '9007199254740990', '--replicas', '3'], /^kvgate: --seed 9007199254740990: replica i runs with seed \+ i, so 3 replicas \(--replicas\) need seeds up to 9007199254740992, past 2\^53-1 \(9007199254740991\): give --seed 9007199254740989 or lower$/m],
    [['simulate', '--fleet', '2:instant,2:instant', '--seed', '9007199254740989'], /^kvgate: --seed 9007199254740989: replica i runs with seed \+ i, so 4 replicas \(--fleet\) need seeds up to 9007199254740992/m],
    // plan tries fleets up to --max-replicas: its last replica's seed counts, not a fleet of one's.
    [['simulate', 'plan', '--profile', 'instant', '--seed', '9007199254740991', '--max-replicas', '4', '--slo', 'ttft_p90=2s', '--rate', '1', '--duration', '2s', '--replica-hourly', '1'], /^kvgate: --seed 9007199254740991: replica i runs with seed \+ i, so 4 replicas \(--max-replicas\) need seeds up to 9007199254740994, past 2\^53-1 \(9007199254740991\): give --seed 9007199254740988 or lower$/m],
  ];
  for (const [args, named] of cases) {
    const r = await runKvgate(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, named, args.join(' '));
    assert.doesNotMatch(r.stderr, /Too big|expected int/, 'no raw schema text');
  }
});

test('--help of bench, simulate, sim and up states the seed range', async () => {
  for (const cmd of ['bench', 'simulate', 'sim', 'up']) {
    const help = (await runKvgate([cmd, '--help'])).stdout.replace(/\n\s{20,}/g, ' ');
    const line = help.split('\n').find((l) => l.trimStart().startsWith('--seed')) ?? '';
    assert.match(line, /an integer from 0 to 2\^53-1 \(9007199254740991\)/, `${cmd}: ${line}`);
  }
});

test('seeds 2^32 apart give different streams and workloads; seeds below 2^32 keep their streams', () => {
  assert.notEqual(createRng(2 ** 32)(), createRng(0)());
  assert.notEqual(createRng(2 ** 40 + 7)(), createRng(7)());
  // The values mulberry32 always gave for these seeds (runs and docs made with them stay true).
  assert.equal(createRng(0)(), 0.26642920868471265);
  assert.equal(createRng(5)(), 0.6897749109193683);
  assert.equal(createRng(-1)(), 0.8964226141106337);
  const prompt = (seed: number) => buildWorkload({ workload: 'random', seed, numRequests: 1, inputLen: 8 })[0].prompt;
  assert.notEqual(prompt(2 ** 32 + 1), prompt(1));
});

test('simulate --seed 1 and --seed 4294967297 (1 + 2^32) run differently; one seed gives byte-identical JSON', async () => {
  // A trace fixes the workload and arrivals whatever the seed (a synthetic workload's generator
  // already took every bit), so what differs is the router's and the engines' draws, which were
  // seeded from the seed's low 32 bits (random picks, latency noise): 1 and 1 + 2^32 ran alike.
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-seed-bits-'));
  const trace = join(dir, 'trace.jsonl');
  writeFileSync(trace, Array.from({ length: 16 }, (_, i) => JSON.stringify({ timestamp: i * 20, input_length: 600, output_length: 20, hash_ids: [i % 4, 100 + i] })).join('\n') + '\n');
  const run = async (seed: string) => {
    const r = await runKvgate(['simulate', '--profile', 'llama3-8b-h100', '--replicas', '3', '--trace', trace, '--compare', 'random,kvgate', '--parallel', '1', '--json', '--seed', seed], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const one = await run('1');
  assert.equal(await run('1'), one, 'same seed, same bytes');
  const high = JSON.parse(await run('4294967297'));
  const low = JSON.parse(one);
  assert.equal(high.config.seed, 4294967297);
  // The runs themselves, not only the seed the config echoes.
  for (const [i, p] of low.policies.entries()) assert.notDeepEqual(high.policies[i], p, `${p.policy}: the high word of the seed changes the run`);
});
