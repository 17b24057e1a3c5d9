import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { sim } from '../sim/helpers.js';

test('every duration flag shows its default with a unit in --help, and the help says how durations are written', async () => {
  const expected: Record<string, [string, string][]> = {
    bench: [['--duration', '30s'], ['--timeout', '5m'], ['--trace-window', '1m']],
    verify: [['--timeout', '1m']],
    serve: [['--metrics-interval', '50ms'], ['--health-interval', '1s'], ['--queue-timeout', '1m'], ['--request-timeout', '10m'], ['--keep-alive-timeout', '65s'], ['--drain-timeout', '30s']],
    epp: [['--metrics-interval', '50ms'], ['--saturation-ttft', '2s']],
    up: [['--metrics-interval', '50ms'], ['--health-interval', '1s'], ['--request-headers-timeout', '15s']],
  };
  for (const [cmd, flags] of Object.entries(expected)) {
    const r = await runKvgate([cmd, '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const [flag, shown] of flags) assert.match(r.stdout, new RegExp(`${flag} <duration>[\\s\\S]*?\\(default: ${shown}\\)`), `${cmd} ${flag}`);
    assert.match(r.stdout, /Durations: 500ms, 30s, 2m or 1h; a bare number is seconds/, cmd);
    for (const line of r.stdout.split('\n').filter((l) => l.includes('<duration>'))) assert.doesNotMatch(line, /\(default: \d+\)/, `${cmd}: a default without its unit: ${line}`);
  }
});

test('a bare duration is seconds and a bad one names its flag', async () => {
  const s = await sim();
  try {
    // 0.01 req/s for 3 (seconds) expects 0.03 arrivals: the run sends nothing and says why, with 3 read as 3s.
    const r = await runKvgate(['bench', '--url', s.url, '--rate', '0.01', '--duration', '3']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kvgate: no request was sent: --duration 3s at 0\.01 req\/s expects 0\.03 arrivals: give a longer --duration/m);
    assert.doesNotMatch(r.stdout, /requests ok \/ total/, 'no table of dashes');
  } finally {
    await s.close();
  }
  const bad = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--queue-timeout', '3 weeks']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--queue-timeout must be a duration like 500ms, 30s or 2m \(a bare number is seconds\) \(got "3 weeks"\)/);
});

test('a bench whose requests all fail says so on stderr and exits 1', async () => {
  const s = await sim({ failureInjectionRate: 100, failureTypes: ['server_error'] });
  try {
    const r = await runKvgate(['bench', '--url', s.url, '--num-requests', '3', '--concurrency', '1', '--workload', 'random', '--input-len', '10', '--output-len', '2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kvgate: no request completed: all 3 failed \(3 × HTTP 5\d\d\)/);
  } finally {
    await s.close();
  }
});
