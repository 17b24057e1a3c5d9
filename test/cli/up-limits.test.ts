import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';

test('up --replicas past 128 (the in-process fleet limit) is a CLI error naming the flag, before any replica starts', async () => {
  for (const n of ['129', '100000']) {
    const r = await runKvgate(['up', '--replicas', n, '--port', '0', '--sim-base-port', '0', '--profile', 'instant'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`option '--replicas <n>' argument '${n}' is invalid\\. --replicas must be at most 128 replicas, the largest fleet kvgate up starts in one process`));
    assert.doesNotMatch(r.stderr, /Too many open file descriptors|\n\s+at /);
    assert.equal(r.stdout, '', 'no fleet started');
  }
  const help = await runKvgate(['up', '--help']);
  assert.match(help.stdout, /--replicas <n>\s+number of simulated replicas; at most 128/);
});

test('sim --help and up --help state the --kv-cache-size limit (2^26 blocks) as simulate --help does', async () => {
  for (const cmd of ['sim', 'up', 'simulate']) {
    const help = await runKvgate([cmd, '--help']);
    assert.equal(help.code, 0, help.stderr);
    const line = help.stdout.replace(/\n\s{20,}/g, ' ').split('\n').find((l) => l.includes('--kv-cache-size <blocks>'));
    assert.match(line ?? '', /at most 67108864 \(2\^26\)/, `${cmd}: ${line}`);
  }
});
