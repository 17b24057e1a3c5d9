// The gateway in front of model servers started with vLLM's --api-key (kvgate sim --api-key):
// without --upstream-api-key the /v1/models probes are refused (warned once per endpoint, /ready
// says why, no served models); with it (flag or KVGATE_UPSTREAM_API_KEY) the models are listed and
// requests go through, the model servers seeing kvgate's key and never the client's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSimFleet, type RunningSimFleet } from '../../src/sim/fleet.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { simProcess, stop } from '../faults/processes.js';
import { MODEL, post, waitFor } from './helpers.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveUpstreamApiKey } from '../../src/cli/api-key-args.js';

const UPSTREAM_KEY = 'sk-upstream-5f1c';
const GATEWAY_KEY = 'sk-gateway-9d2e';

/** Two keyed replicas (their http lines captured: each /v1/models probe and its status) behind a gateway. */
async function keyedFleet(gw: Partial<GatewayOptions>): Promise<{ fleet: RunningSimFleet; gateway: RunningGateway; gwLines: LogLine[]; simLines: LogLine[]; close(): Promise<void> }> {
  const sims = capturingLogger();
  const fleet = await startSimFleet({ replicas: 2, basePort: 0, profile: 'instant', apiKeys: [UPSTREAM_KEY], logHttp: true }, { logger: sims.logger });
  const gwLog = capturingLogger();
  const gateway = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: fleet.replicas.map((r) => parseEndpoint(r.url)), healthIntervalMs: 50, logger: gwLog.logger, ...gw });
  return {
    fleet,
    gateway,
    gwLines: gwLog.lines,
    simLines: sims.lines,
    async close() {
      await gateway.close();
      await fleet.close();
    },
  };
}

const modelsProbes = (lines: LogLine[], status: number) => lines.filter((l) => l.msg === 'http' && l.path === '/v1/models' && l.status === status).length;
const readyBody = async (g: RunningGateway) => (await (await fetch(`${g.url}/ready`)).json()) as { ready: boolean; error?: string };

test('without --upstream-api-key a keyed fleet refuses the probes: one warning per endpoint, /ready says why, no models', async () => {
  const f = await keyedFleet({});
  try {
    // Several refused probes per replica (counted on the replicas), so a warning per probe would show.
    await waitFor(() => modelsProbes(f.simLines, 401) >= 6);
    const warnings = f.gwLines.filter((l) => l.level === 40 && /GET \/v1\/models/.test(l.msg));
    assert.deepEqual(warnings.map((w) => w.endpoint).sort(), f.fleet.replicas.map((r) => `127.0.0.1:${r.port}`).sort(), 'one warning per endpoint');
    assert.match(warnings[0].msg, /answered 401 to GET \/v1\/models: the model server requires an API key \(vLLM --api-key\); set --upstream-api-key or KVGATE_UPSTREAM_API_KEY/);
    const ready = await readyBody(f.gateway);
    assert.equal(ready.ready, true, 'the replicas are healthy (/health is not guarded)');
    assert.match(ready.error ?? '', /requires an API key.*KVGATE_UPSTREAM_API_KEY \(and 1 more endpoint\)$/);
    const models = (await (await fetch(`${f.gateway.url}/v1/models`)).json()) as { data: unknown[] };
    assert.deepEqual(models.data, []);
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'not-the-replicas-key', maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }), (err: unknown) => err instanceof OpenAI.AuthenticationError);
  } finally {
    await f.close();
  }
});

test('with --upstream-api-key the gateway lists the model and serves chat through the openai client, whatever key the client sends', async () => {
  const f = await keyedFleet({ upstreamApiKey: UPSTREAM_KEY });
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'the-clients-own-key', maxRetries: 0 });
    await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL));
    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(chat.usage!.completion_tokens, 3);
    const tokenized = await post(`${f.gateway.url}/tokenize`, { model: MODEL, prompt: 'hello' });
    assert.equal(tokenized.status, 200, 'utility routes carry the key too');
    assert.equal((await readyBody(f.gateway)).error, undefined);
    assert.equal(modelsProbes(f.simLines, 401), 0, 'no probe went without the key');
    assert.equal(f.gwLines.filter((l) => l.level === 40 && /\/v1\/models/.test(l.msg)).length, 0);
  } finally {
    await f.close();
  }
});

test('a gateway with its own --api-key: the client uses the gateway\'s key, the replicas see the upstream key', async () => {
  const f = await keyedFleet({ apiKeys: [GATEWAY_KEY], upstreamApiKey: UPSTREAM_KEY });
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: GATEWAY_KEY, maxRetries: 0 });
    await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL));
    // The replicas take only UPSTREAM_KEY: a 200 means the client's GATEWAY_KEY did not reach them.
    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    assert.equal(chat.object, 'chat.completion');
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 2 });
    assert.equal(completion.object, 'text_completion');
    // The upstream key does not open the gateway.
    const wrongDoor = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: UPSTREAM_KEY, maxRetries: 0 });
    await assert.rejects(wrongDoor.models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
  } finally {
    await f.close();
  }
});

/** The environment without kvgate's key variables, so a developer's own cannot leak in. */
function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['KVGATE_API_KEYS', 'KVGATE_API_KEY', 'KVGATE_UPSTREAM_API_KEY', 'VLLM_API_KEY']) delete env[k];
  return { ...env, ...vars };
}

test('kvgate serve takes the key from --upstream-api-key or KVGATE_UPSTREAM_API_KEY (kvgate sim processes with --api-key), and never prints it', async () => {
  const replica = await simProcess(['--api-key', UPSTREAM_KEY]);
  try {
    const ways: { args: string[]; env: Record<string, string> }[] = [
      { args: ['--upstream-api-key', UPSTREAM_KEY], env: {} },
      { args: [], env: { KVGATE_UPSTREAM_API_KEY: UPSTREAM_KEY } },
    ];
    for (const given of ways) {
      const gw = spawnKvgate(['serve', '--port', '0', '--endpoints', replica.url, '--health-interval', '50ms', ...given.args], { env: envWith({ ...given.env, KVGATE_LOG_LEVEL: 'debug' }) });
      let output = '';
      gw.stdout!.on('data', (d) => (output += d));
      gw.stderr!.on('data', (d) => (output += d));
      try {
        const url = (await waitForOutput(gw, /http:\/\/\S+(?= \()/, 60_000)).trim();
        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
        await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL));
        const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
        assert.equal(chat.object, 'chat.completion');
        assert.ok(!output.includes(UPSTREAM_KEY), 'the key is not in the gateway\'s output');
      } finally {
        await stop(gw);
      }
    }
  } finally {
    await stop(replica.child);
  }
});

test('kvgate serve: an empty --upstream-api-key or KVGATE_UPSTREAM_API_KEY, or the flag twice, is a startup error naming it', async () => {
  const base = ['serve', '--port', '0', '--endpoints', '127.0.0.1:9'];
  const flag = await runKvgate([...base, '--upstream-api-key', ' '], { env: envWith({}) });
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /--upstream-api-key is empty \(an unset variable in "\$KEY"\?\)/);
  const env = await runKvgate(base, { env: envWith({ KVGATE_UPSTREAM_API_KEY: '' }) });
  assert.equal(env.code, 1);
  assert.match(env.stderr, /^kvgate: KVGATE_UPSTREAM_API_KEY is empty/m);
  const twice = await runKvgate([...base, '--upstream-api-key', 'first-secret', '--upstream-api-key', 'second-secret'], { env: envWith({}) });
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /--upstream-api-key is given twice/);
  const odd = await runKvgate([...base, '--upstream-api-key', 'sécret'], { env: envWith({}) });
  assert.equal(odd.code, 1);
  assert.match(odd.stderr, /--upstream-api-key holds characters an HTTP header cannot carry/);
  // commander's "argument 'VALUE' is invalid" would print the key.
  for (const r of [twice, odd]) assert.doesNotMatch(r.stderr, /secret|sécret/);
  for (const r of [flag, env, twice, odd]) assert.doesNotMatch(r.stdout, /listening/);
});

test('the upstream key: --upstream-api-key overrides KVGATE_UPSTREAM_API_KEY, which overrides the config file\'s upstreamApiKey', () => {
  const config = { upstreamApiKey: 'from-file' };
  assert.equal(resolveUpstreamApiKey({ upstreamApiKey: 'from-flag' }, { KVGATE_UPSTREAM_API_KEY: 'from-env' }, config), 'from-flag');
  assert.equal(resolveUpstreamApiKey({}, { KVGATE_UPSTREAM_API_KEY: ' from-env ' }, config), 'from-env');
  assert.equal(resolveUpstreamApiKey({}, {}, config), 'from-file');
  assert.equal(resolveUpstreamApiKey({}, {}, {}), undefined);
  assert.throws(() => resolveUpstreamApiKey({}, { KVGATE_UPSTREAM_API_KEY: '' }, config), /KVGATE_UPSTREAM_API_KEY is empty/);
});

test('kvgate up with upstreamApiKey in --config-file: its replicas require the key, the gateway sends it; --upstream-api-key overrides the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-up-key-'));
  const file = join(dir, 'epp.yaml');
  writeFileSync(file, `apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nupstreamApiKey: ${UPSTREAM_KEY}\nplugins:\n- type: queue-scorer\n`);
  const base = ['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--replicas', '2', '--config-file', file, '--json'];
  for (const [extra, key, other] of [[[], UPSTREAM_KEY, 'sk-flag-3c4d'], [['--upstream-api-key', 'sk-flag-3c4d'], 'sk-flag-3c4d', UPSTREAM_KEY]] as const) {
    const child = spawnKvgate([...base, ...extra], { env: envWith({}) });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    try {
      const line = await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000);
      const { gateway_url: url, replicas } = JSON.parse(line.slice(line.indexOf('{'))) as { gateway_url: string; replicas: string[] };
      const models = (k?: string) => fetch(`${replicas[0]}/v1/models`, { headers: k ? { authorization: `Bearer ${k}` } : {} }).then((r) => r.status);
      assert.deepEqual([await models(), await models(other), await models(key)], [401, 401, 200], 'each replica requires the key in force, and only it');
      // The client sends no key (the gateway requires none); the replicas' 200 means the gateway sent the key.
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL));
      for (let i = 0; i < 4; i++) {
        const r = await client.completions.create({ model: MODEL, prompt: `keyed ${i}`, max_tokens: 2 });
        assert.equal(r.usage!.completion_tokens, 2);
      }
      assert.ok(!output.includes(key), 'the key is not in kvgate up\'s output');
    } finally {
      await stop(child);
    }
  }
});
