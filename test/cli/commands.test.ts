import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runKvgate, spawnKvgate, waitForOutput, repoRoot } from '../helpers/cli.js';

test('kvgate up --json prints exactly one JSON line on stdout', async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--json']);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  try {
    await waitForOutput(child, /\{"gateway_url".*\}\n/, 30_000);
    // Give anything else a chance to reach stdout before reading it whole.
    await fetch(JSON.parse(stdout).gateway_url + '/health');
    const lines = stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, stdout);
    assert.ok(JSON.parse(lines[0]).replicas.length === 3);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});

test('a gateway port already in use is a clear message and exit 1, for up and serve', async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = String((holder.address() as { port: number }).port);
  try {
    const up = await runKvgate(['up', '--port', port, '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant'], { timeoutMs: 30_000 });
    assert.equal(up.code, 1);
    assert.match(up.stderr, new RegExp(`port ${port} .*already in use`));
    const serve = await runKvgate(['serve', '--port', port, '--endpoints', '127.0.0.1:9'], { timeoutMs: 30_000 });
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /already in use/);
  } finally {
    holder.close();
  }
});

test('one conflict rule for serve and epp: an explicit --preset with --config-file is an error; so are two endpoint sources', async () => {
  for (const cmd of ['serve', 'epp']) {
    const both = await runKvgate([cmd, '--preset', 'gie-default', '--config-file', 'x.yaml', '--endpoints', '10.0.0.1:8000']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give --preset or --config-file, not both/);
    const two = await runKvgate([cmd, '--endpoints', '10.0.0.1:8000', '--pool-name', 'p']);
    assert.equal(two.code, 1);
    assert.match(two.stderr, /exactly one of --endpoints, --endpoints-file or --pool-name/);
  }
});

test('--help shows defaults with their units, and the same default preset everywhere', async () => {
  for (const cmd of ['serve', 'epp', 'up']) {
    const r = await runKvgate([cmd, '--help']);
    assert.match(r.stdout, /--preset <name>[\s\S]*?\(default: "kvgate"\)/, cmd);
    assert.match(r.stdout, /--max-body-bytes <bytes>[\s\S]*?\(default: 16 MiB\)/, cmd);
    assert.match(r.stdout, /--health-interval <duration>[\s\S]*?\(default: 1s\)/, cmd);
    assert.match(r.stdout, /--metrics-interval <duration>[\s\S]*?\(default: 50ms\)/, cmd);
    assert.match(r.stdout, /--log-level <level>[\s\S]*?\(default:\s+\$KVGATE_LOG_LEVEL,\s+else\s+info\)/, cmd);
  }
});

test("the package's exports map serves `kvgate/router` and `kvgate/datalayer` (the library API in docs/router.md)", async () => {
  const code = "const r = await import('kvgate/router'); const d = await import('kvgate/datalayer'); console.log(typeof r.createRouter, typeof r.Director, typeof d.PoolRuntime);";
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], { cwd: repoRoot });
  assert.equal(stdout.trim(), 'function function function');
});

test('kvgate up: its replicas take any body its gateway lets through (--max-body-bytes), not the sim default of 4 MiB', async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--replicas', '1', '--model', 'big-body-model', '--max-body-bytes', '8MiB', '--json']);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  try {
    await waitForOutput(child, /\{"gateway_url".*\}\n/, 30_000);
    const { gateway_url: url } = JSON.parse(stdout) as { gateway_url: string };
    // 5 MiB: over the sim's own default limit, under the gateway's. The replica reads it and
    // answers its context-length 400; before, it refused the body with 413.
    const body = JSON.stringify({ model: 'big-body-model', prompt: 'word '.repeat(1_048_576), max_tokens: 1 });
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await r.text();
    assert.equal(r.status, 400, text);
    assert.match(text, /maximum context length/);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});
