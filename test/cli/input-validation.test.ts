import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { tmpdir } from 'node:os';

/** One clear message naming the flag, exit code 1, no stack trace. */
function assertFlagError(r: { code: number | null; stderr: string }, message: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('--metrics-interval 0 (a scrape loop without pause) and other zero periods or windows are refused, naming the flag', async () => {
  const up = await runKvgate(['up', '--metrics-interval', '0', '--port', '0', '--sim-base-port', '0']);
  assertFlagError(up, /--metrics-interval must be at least 1ms \(got "0"\)/);
  const serve = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--port', '0', '--metrics-interval', '0.5ms']);
  assertFlagError(serve, /--metrics-interval must be at least 1ms \(got "0\.5ms"\)/);
  const health = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--health-interval', '0.2ms']);
  assertFlagError(health, /--health-interval must be 0 \(off\) or at least 1ms \(got "0\.2ms"\)/);
  // Longer than a Node timer holds: it would fire after 1 ms.
  const long = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--queue-timeout', '700h']);
  assertFlagError(long, /--queue-timeout must be at most 596h \(got "700h"\)/);
  const bench = await runKvgate(['bench', '--url', 'http://127.0.0.1:9', '--trace-window', '0']);
  assertFlagError(bench, /--trace-window must be more than 0 \(got "0"\)/);
  const benchDuration = await runKvgate(['bench', '--url', 'http://127.0.0.1:9', '--rate', '1', '--duration', '0s']);
  assertFlagError(benchDuration, /--duration must be more than 0 \(got "0s"\)/);
  for (const flag of ['--metrics-interval', '--trace-window', '--duration']) {
    assertFlagError(await runKvgate(['simulate', flag, '0']), new RegExp(`${flag} must be more than 0 \\(got "0"\\)`));
  }
  // The bound is in --help, beside the default and its unit.
  const help = await runKvgate(['serve', '--help']);
  assert.match(help.stdout, /--metrics-interval <duration>[\s\S]*?at least 1ms \(default: 50ms\)/);
  assert.match(help.stdout, /--health-interval <duration>[\s\S]*?at least 1ms \(default: 1s\)/);
});

test('--endpoints: an upper-case scheme is still http, and another scheme is an error naming the flag and the entry', async () => {
  const r = await runKvgate(['serve', '--port', '0', '--endpoints', 'http://127.0.0.1:20000,ftp://x:1']);
  assertFlagError(r, /^kvgate: --endpoints: invalid endpoint "ftp:\/\/x:1": scheme ftp:\/\/ is not http:\/\/ or https:\/\/$/m);
});

test('--endpoints: an IPv6 address with a port but no brackets is an error naming the flag and showing the bracketed form', async () => {
  const r = await runKvgate(['serve', '--port', '0', '--endpoints', '[::1]:20000,::1:20001']);
  assertFlagError(r, /^kvgate: --endpoints: invalid endpoint "::1:20001": an IPv6 address needs brackets, or its port is ambiguous: write \[::1\]:20001$/m);
});

test('bench: a bad --stages entry names --stages (as simulate does), a bad --sweep rate names --sweep', async () => {
  const stages = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--stages', '2:1,0:1']);
  assertFlagError(stages, /^kvgate: --stages entries look like rate:seconds with both positive, e.g\. 3:60,10:30 \(got "0:1"\)$/m);
  assert.doesNotMatch(stages.stderr, /--sweep/);
  const sim = await runKvgate(['simulate', '--stages', '2:1,0:1']);
  assertFlagError(sim, /^kvgate: --stages entries look like rate:seconds with both positive/m);
  const sweep = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--sweep', '1,0']);
  assertFlagError(sweep, /^kvgate: --sweep rates must be positive numbers, e\.g\. 1,2,4 \(got "0"\)$/m);
});

test('--endpoints-file and --objectives-file: a missing file or a directory is an error naming the flag (was "kvgate: x: cannot read: ENOENT")', async () => {
  const common = ['epp', '--secure-serving=false', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0'];
  assertFlagError(await runKvgate([...common, '--endpoints-file', '/nonexistent/endpoints.yaml']), /^kvgate: --endpoints-file: cannot read \/nonexistent\/endpoints\.yaml: no such file$/m);
  assertFlagError(await runKvgate([...common, '--endpoints-file', tmpdir()]), new RegExp(`^kvgate: --endpoints-file: cannot read ${tmpdir()}: it is a directory$`, 'm'));
  assertFlagError(await runKvgate([...common, '--endpoints', '127.0.0.1:9', '--trust-routing-headers', '--objectives-file', '/nonexistent/objectives.yaml']), /^kvgate: --objectives-file: cannot read \/nonexistent\/objectives\.yaml: no such file$/m);
  assertFlagError(await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--trust-routing-headers', '--objectives-file', tmpdir()]), new RegExp(`^kvgate: --objectives-file: cannot read ${tmpdir()}: it is a directory$`, 'm'));
});
