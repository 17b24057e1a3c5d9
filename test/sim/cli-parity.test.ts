// `kvgate sim` in place of llm-d-inference-sim: its documented quick start (README "Standalone
// testing" and the Kind deployment's arguments and curl), every flag it has
// (test/fixtures/llmd-inference-sim-flags.json), --config YAML and environment precedence
// (docs/configuration.md), and space-separated list flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { makeTestPki } from '../helpers/tls.js';
import { post, freePortPair, type Json } from './helpers.js';

const exec = promisify(execFile);

async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; urls: string[] }> {
  const child = spawnKvgate(['sim', ...args], { env });
  const line = await waitForOutput(child, /listening on (https?:\/\/\S+)/, 30_000);
  return { child, urls: [line.split(' ').find((w) => w.startsWith('http'))!] };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  child.kill('SIGTERM');
  return exit;
}

// README "Standalone testing" → "Running": the command line, then the README's chat curl.
test('llm-d-inference-sim\'s standalone quick start runs unchanged, and its curl works', async () => {
  const port = await freePort();
  const { child, urls } = await start(['--model', 'Qwen/Qwen2.5-0.5B-Instruct', '--port', String(port), '--render-url', 'http://localhost:8082']);
  try {
    assert.equal(urls[0], `http://127.0.0.1:${port}`);
    const body = '{\n    "model": "Qwen/Qwen2.5-0.5B-Instruct",\n    "messages": [\n      {"role": "user", "content": "Hello!"}\n    ]\n  }';
    const { stdout } = await exec('curl', ['-s', '-X', 'POST', `http://localhost:${port}/v1/chat/completions`, '-H', 'Content-Type: application/json', '-d', body]);
    const r = JSON.parse(stdout);
    assert.equal(r.object, 'chat.completion');
    assert.ok(r.choices[0].message.content.length > 0);
  } finally {
    assert.equal(await stop(child), 0);
  }
});

// README "Testing on Kind": the deployment's arguments (deploy/deployments.yaml, with MODEL_NAME set
// to the model of the README's curl) and environment (POD_NAME, POD_NAMESPACE, POD_IP), then that curl.
test('the Kind deployment\'s arguments and environment, and the README\'s curl verbatim', async () => {
  const port = await freePort();
  const { child } = await start(['--model', 'meta-llama/Llama-3.1-8B-Instruct', '--port', String(port), '--render-url', 'http://localhost:8082'], {
    POD_NAME: 'vllm-sim-7d9f', POD_NAMESPACE: 'default', POD_IP: '127.0.0.1',
  });
  try {
    const { stdout } = await exec('curl', [
      '-s', '-i', '-X', 'POST', `http://localhost:${port}/v1/chat/completions`,
      '-H', 'Content-Type: application/json',
      '-d', '{\n    "model": "meta-llama/Llama-3.1-8B-Instruct",\n    "messages": [\n      {"role": "user", "content": "Hello!"}\n    ]\n  }',
    ]);
    assert.match(stdout, /^HTTP\/1\.1 200/);
    assert.match(stdout, /x-inference-pod: vllm-sim-7d9f/i);
    assert.match(stdout, /x-inference-namespace: default/i);
    assert.match(stdout, new RegExp(`x-inference-port: ${port}`, 'i'));
    const json = JSON.parse(stdout.slice(stdout.indexOf('{')));
    assert.equal(json.model, 'meta-llama/Llama-3.1-8B-Instruct');
  } finally {
    await stop(child);
  }
});

const fixture = JSON.parse(readFileSync(new URL('../fixtures/llmd-inference-sim-flags.json', import.meta.url), 'utf8')) as Record<'flags' | 'separately' | 'with_self_signed', string[][]>;

function fill(rows: string[][], values: Record<string, string>): string[] {
  return rows.flat().map((a) => a.replace(/\{(\w+)\}/g, (_, k: string) => values[k]));
}

test('every llm-d-inference-sim flag is in kvgate sim --help', async () => {
  const help = await runKvgate(['sim', '--help']);
  assert.equal(help.code, 0);
  for (const row of [...fixture.flags, ...fixture.separately, ...fixture.with_self_signed]) {
    const flag = row[0].split('=')[0];
    assert.match(help.stdout, new RegExp(`(^|[ ,])${flag.replace(/-/g, '\\-')}\\b`, 'm'), `${flag} in --help`);
  }
});

// docs/configuration.md: every flag at once, then the negations, certificates and self-signed TLS.
test('kvgate sim starts with every llm-d-inference-sim flag given', async () => {
  const pki = makeTestPki();
  const values = { port: String(await freePort()), zmqPort: String(await freePort()), replayPort: String(await freePort()), certfile: pki.serverCert, keyfile: pki.serverKey };
  const all = await start(fill(fixture.flags, values));
  try {
    const r = await post(all.urls[0], '/v1/chat/completions', { model: 'alias-b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.headers.get('x-request-id'), '--enable-request-id-headers took effect');
    const cfg = (await (await fetch(`${all.urls[0]}/admin/config`)).json()) as Json;
    assert.equal(cfg['max-loras'], 2);
    assert.equal(cfg['time-to-first-token'], '20ms');
    assert.equal(cfg['prefill-time-per-token'], '50µs');
    assert.equal(cfg['zmq-endpoint'], `tcp://127.0.0.1:${values.zmqPort}`);
    assert.equal(cfg['use-vllm-map-event-format'], true);
    assert.deepEqual(cfg['lora-modules'].map((l: Json) => l.name), ['lora1', 'lora2']);
    const m = await (await fetch(`${all.urls[0]}/metrics`)).text();
    assert.match(m, /vllm:num_requests_waiting\{[^}]*\} 3/, '--fake-metrics took effect');
  } finally {
    assert.equal(await stop(all.child), 0);
  }
  const tls = await start(fill(fixture.separately, { ...values, port: String(await freePort()) }));
  const self = await start(fill(fixture.with_self_signed, { port: String(await freePort()) }));
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    for (const url of [tls.urls[0], self.urls[0]]) {
      assert.ok(url.startsWith('https://'), url);
      const r = await request(`${url}/health`, { dispatcher: insecure });
      assert.equal(r.statusCode, 200);
      await r.body.dump();
    }
  } finally {
    await insecure.close();
    await stop(tls.child);
    await stop(self.child);
  }
});

// docs/configuration.md: --config YAML (keys as flags), command line > SIM_MODEL > file > defaults.
test('--config YAML, with the command line and SIM_MODEL taking precedence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-sim-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      'port: 1', // overridden on the command line
      'model: "from/the-file"',
      'served-model-name:',
      '- "model1"',
      '- "model2"',
      'max-loras: 2',
      'max-cpu-loras: 5',
      'max-num-seqs: 5',
      'lora-modules:',
      '- \'{"name":"lora1","path":"/path/to/lora1"}\'',
      'mode: "echo"',
      'time-to-first-token: "20ms"',
      'inter-token-latency: "1ms"',
      'kv-cache-transfer-latency: "100ms"',
      'seed: 100100100',
      'fake-metrics:',
      '  running-requests: 16',
      '  loras:',
      '  - \'{"running":"lora1","waiting":"","timestamp":1257894567}\'',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const { child, urls } = await start(['--config', file, '--port', String(port)], { SIM_MODEL: 'from/the-env' });
  try {
    assert.equal(urls[0], `http://127.0.0.1:${port}`, 'the command line wins over the file');
    const cfg = (await (await fetch(`${urls[0]}/admin/config`)).json()) as Json;
    assert.equal(cfg.model, 'from/the-env', 'SIM_MODEL wins over the file');
    assert.deepEqual(cfg['served-model-name'], ['model1', 'model2']);
    assert.equal(cfg['max-cpu-loras'], 5);
    assert.equal(cfg['time-to-first-token'], '20ms');
    assert.equal(cfg.mode, 'echo');
    const echo = await post(urls[0], '/v1/completions', { model: 'model2', prompt: 'say it back', max_tokens: 20 });
    assert.equal(echo.json.choices[0].text, 'say it back');
    assert.equal((await post(urls[0], '/v1/completions', { model: 'lora1', prompt: 'x', max_tokens: 1 })).status, 200);
  } finally {
    await stop(child);
  }
  writeFileSync(join(dir, 'bad.yaml'), 'no-such-flag: 1\n');
  const bad = await runKvgate(['sim', '--config', join(dir, 'bad.yaml'), '--port', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown key "no-such-flag"/);
});

// llm-d-inference-sim takes list flags space-separated (pflag + its own argument scan).
test('space-separated list flags: --failure-types a b, --served-model-name a b', async () => {
  const { child, urls } = await start(['--port', '0', '--profile', 'instant', '--served-model-name', 'm1', 'm2', '--failure-types', 'rate_limit', 'server_error', '--failure-injection-rate', '100']);
  try {
    const statuses = new Set<number>();
    for (let i = 0; i < 25; i++) statuses.add((await post(urls[0], '/v1/completions', { model: 'm2', prompt: 'x', max_tokens: 1 })).status);
    assert.deepEqual([...statuses].sort(), [429, 503]);
    const models = (await (await fetch(`${urls[0]}/v1/models`)).json()) as Json;
    assert.deepEqual(models.data.map((d: Json) => d.id), ['m1', 'm2']);
  } finally {
    await stop(child);
  }
});

// An unset variable (--served-model-name "$NAME") fell back to --model unnoticed: the list parser
// dropped empty entries. The flag and the --config key both go through the same parser.
test('--served-model-name with an empty name is an error naming the flag (on the command line and in --config)', async () => {
  for (const value of ['', 'a,,b']) {
    const r = await runKvgate(['sim', '--port', '0', '--profile', 'instant', '--served-model-name', value], { timeoutMs: 20_000 }); // before the check the server started and ran
    assert.equal(r.code, 1, value);
    assert.match(r.stderr, new RegExp(`--served-model-name takes no empty model name \\(got "${value}"`), value);
    assert.doesNotMatch(r.stdout, /listening on/, value);
  }
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-sim-names-')), 'c.yaml');
  writeFileSync(file, 'served-model-name: ["m1", ""]\n');
  const r = await runKvgate(['sim', '--port', '0', '--profile', 'instant', '--config', file], { timeoutMs: 20_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kvgate: --config .*c\.yaml: served-model-name: --served-model-name takes no empty model name \(got ""/m);
});

// docs/configuration.md "Data parallel": rank i on port + i.
test('--data-parallel-size 2 serves two ranks on consecutive ports', async () => {
  const port = await freePortPair();
  const child = spawnKvgate(['sim', '--port', String(port), '--profile', 'instant', '--data-parallel-size', '2', '--json']);
  try {
    const line = await waitForOutput(child, /\{"url".*\}/, 30_000);
    const info = JSON.parse(line) as { urls: string[] };
    assert.deepEqual(info.urls, [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]);
    for (const u of info.urls) assert.equal((await fetch(`${u}/health`)).status, 200);
  } finally {
    await stop(child);
  }
});

test('bad flags exit 1 naming the flag; pflag-style booleans are accepted', async () => {
  const unknown = await runKvgate(['sim', '--no-such-flag']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown option '--no-such-flag'/);
  const dur = await runKvgate(['sim', '--time-to-first-token', 'soon']);
  assert.equal(dur.code, 1);
  assert.match(dur.stderr, /--time-to-first-token must be a duration/);
  const sd = await runKvgate(['sim', '--port', '0', '--inter-token-latency', '10ms', '--inter-token-latency-std-dev', '5ms']);
  assert.equal(sd.code, 1);
  assert.match(sd.stderr, /cannot be more than 30% of inter token latency/);
  const b = await runKvgate(['sim', '--enable-request-id-headers', 'maybe']);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /--enable-request-id-headers takes true or false/);
  const { child, urls } = await start(['--port', '0', '--profile', 'instant', '--enable-request-id-headers=false', '--self-signed-certs', 'false']);
  try {
    assert.ok(urls[0].startsWith('http://'), '--self-signed-certs false keeps plain HTTP');
    const r = await post(urls[0], '/v1/completions', { model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'x', max_tokens: 1 }, { 'x-request-id': 'r1' });
    assert.equal(r.headers.get('x-request-id'), null);
  } finally {
    await stop(child);
  }
});

// vLLM's --kv-events-config JSON (vllm/config/kv_events.py): enable, endpoint (a wildcard binds), topic.
test('vLLM\'s --kv-events-config publishes KV events on its endpoint and topic', async () => {
  const zmq = await import('zeromq');
  const kv = await freePort();
  const { child, urls } = await start(['--port', '0', '--profile', 'instant', '--kv-events-config', JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: `tcp://*:${kv}`, topic: 'kv-events' })]);
  const sub = new zmq.Subscriber();
  sub.connect(`tcp://127.0.0.1:${kv}`);
  sub.subscribe();
  const topics: string[] = [];
  void (async () => {
    try {
      for await (const [topic] of sub) topics.push(topic.toString());
    } catch {
      // closed
    }
  })();
  try {
    const end = Date.now() + 20_000;
    while (topics.length === 0 && Date.now() < end) {
      await post(urls[0], '/v1/completions', { model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'e'.repeat(200), max_tokens: 1 });
      await post(urls[0], '/reset_prefix_cache', '');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(topics[0], 'kv-events');
  } finally {
    sub.close();
    await stop(child);
  }
});
