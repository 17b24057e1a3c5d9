import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { buildWorkload } from '../../src/bench/workloads.js';
import { KvgateError } from '../../src/shared/errors.js';

/** One clear line naming the flag: exit 1, no stack trace, no heap-out-of-memory crash. */
function assertRefused(r: { code: number | null; stdout: string; stderr: string }, re: RegExp, what: string) {
  assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, re, what);
  assert.doesNotMatch(r.stderr, /heap out of memory|RangeError|\n\s+at /, what);
}

test('--num-requests past 1,000,000 is a CLI error naming the flag (bench, bench --requests, simulate, simulate plan)', async () => {
  const url = ['--url', 'http://127.0.0.1:9'];
  for (const [args, flag] of [
    [['bench', ...url, '--num-requests', '10000000'], '--num-requests'],
    [['bench', ...url, '--requests', '1000001'], '--requests'],
    [['simulate', '--workload', 'random', '--num-requests', '10000000'], '--num-requests'],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--workload', 'random', '--num-requests', '10000000'], '--num-requests'],
  ] as const) {
    const r = await runKvgate([...args], { timeoutMs: 60_000 });
    assertRefused(r, new RegExp(`${flag} must be at most 1,000,000 requests`), args.join(' '));
  }
});

test('a workload sized by --num-requests past 2^28 prompt tokens is refused before it is built, naming the flags', async () => {
  const r = await runKvgate(['simulate', '--workload', 'random', '--num-requests', '1000000', '--input-len', '1000'], { timeoutMs: 60_000 });
  assertRefused(r, /--num-requests × --input-len: 1,000,000,000 prompt tokens to build, more than the 268,435,456 \(2\^28/, 'simulate random');
  assert.throws(
    () => buildWorkload({ workload: 'prefix-repetition', seed: 0, numRequests: 1_000_000, suffixLen: 512 }),
    (e: unknown) => e instanceof KvgateError && /^--num-requests × --suffix-len \+ --num-prefixes × --prefix-len: 512,002,560 prompt tokens/.test(e.message),
  );
  assert.equal(buildWorkload({ workload: 'random', seed: 0, numRequests: 3 }).length, 3, 'small workloads build as before');
});
