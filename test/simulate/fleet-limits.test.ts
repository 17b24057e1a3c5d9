import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { createEngine, loadProfile, VirtualClock, MAX_KV_BLOCKS } from '../../src/engine/index.js';
import { buildFleet } from '../../src/simulate/fleet.js';
import { KvgateError } from '../../src/shared/errors.js';

const SMALL = ['--workload', 'random', '--num-requests', '2'];

test('absurd fleet sizes get a CLI error naming the flag and the limit, not a RangeError, an out-of-memory crash or a hang', async () => {
  for (const [args, re] of [
    [['simulate', '--replicas', '100000', ...SMALL], /--replicas must be at most 4096 replicas/],
    [['simulate', '--kv-cache-size', '1e10', ...SMALL], /--kv-cache-size must be at most 67,108,864 blocks \(2\^26/],
    [['sim', '--kv-cache-size', '1e10', '--port', '0'], /--kv-cache-size must be at most 67,108,864 blocks \(2\^26/],
    [['up', '--kv-cache-size', '1e10', '--port', '0'], /--kv-cache-size must be at most 67,108,864 blocks \(2\^26/],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--max-replicas', '100000', ...SMALL], /--max-replicas must be at most 4096 replicas/],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--kv-cache-size', '1e10', ...SMALL], /--kv-cache-size must be at most 67,108,864 blocks/],
    // Within each limit, too many blocks over the whole fleet (the profile's default cache counts).
    [['simulate', '--replicas', '2048', ...SMALL], /--replicas and --kv-cache-size: 2048 × 131,072 \(qwen2\.5-3b-tpu-v6e's\) = 268,435,456 KV blocks over the fleet, .*at most 134,217,728 blocks \(2\^27/],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--max-replicas', '4096', ...SMALL], /--max-replicas and --kv-cache-size: 4096 × 131,072 .* at most 134,217,728 blocks/],
    [['simulate', '--fleet', '5000:instant', ...SMALL], /--fleet: "5000:instant": at most 4096 replicas/],
    [['simulate', '--fleet', '2:instant:kv-cache-size=1e10', ...SMALL], /--fleet: kv-cache-size must be at most 67,108,864 blocks/],
    [['simulate', '--fleet', '2000:instant,2000:llama3-8b-h100', ...SMALL], /--fleet and --kv-cache-size: 2000 × 65,536 \(instant's\) \+ 2000 × 28,125 \(llama3-8b-h100's\) = 187,322,000 KV blocks/],
  ] as const) {
    const r = await runKvgate([...args], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /RangeError|Invalid typed array length|\n\s+at /, args.join(' '));
  }
});

test('the engine and buildFleet refuse a cache over the limit before allocating it', () => {
  const profile = loadProfile('instant');
  assert.throws(() => createEngine({ profile, clock: new VirtualClock(0), kvCacheSize: MAX_KV_BLOCKS + 1 }), (e: unknown) => e instanceof KvgateError && /kvCacheSize must be at most 67,108,864 blocks/.test(e.message));
  assert.throws(() => buildFleet([{ count: 3000, profile: 'instant' }], new VirtualClock(0), 0), (e: unknown) => e instanceof KvgateError && /--replicas and --kv-cache-size: 3000 × 65,536/.test(e.message));
});
