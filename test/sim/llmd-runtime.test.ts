// Run-time configuration, fake metrics, P/D, TLS and data parallelism, from llm-d-inference-sim's
// docs (docs/http-endpoints.md "/admin/config", docs/configuration.md "Fake metrics", "SSL",
// "Data parallel", docs/kv-cache.md) and vLLM's P/D connector contract (kv_transfer_params of
// NixlConnector) and KV-event offsets (vllm/config/kv_events.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { decode } from '@msgpack/msgpack';
import { Agent, request } from 'undici';
import { MODEL, sim, post, metrics, until, freePortPair, type Json } from './helpers.js';
import { sampleValue } from '../helpers/prom-text.js';
import { freePort } from '../helpers/ports.js';
import { makeTestPki } from '../helpers/tls.js';
import { startSimRanks } from '../../src/sim/data-parallel.js';
import { parseGoDurationMs, formatGoDuration } from '../../src/sim/go-duration.js';
import { fakeValueAt, parseFakeFunction } from '../../src/sim/fake-metrics-config.js';

test('Go durations parse as llm-d-inference-sim writes them; bare numbers are milliseconds', () => {
  assert.equal(parseGoDurationMs('250ms'), 250);
  assert.equal(parseGoDurationMs('1.5s'), 1500);
  assert.equal(parseGoDurationMs('750us'), 0.75);
  assert.equal(parseGoDurationMs('1m30s'), 90_000);
  assert.equal(parseGoDurationMs('2h'), 7_200_000);
  assert.equal(parseGoDurationMs('200'), 200);
  assert.equal(parseGoDurationMs('fast'), null);
  assert.equal(parseGoDurationMs('-5ms'), null);
  assert.equal(formatGoDuration(250), '250ms');
  assert.equal(formatGoDuration(1500), '1.5s');
  assert.equal(formatGoDuration(90_000), '1m30s');
  assert.equal(formatGoDuration(0), '0s');
});

// docs/http-endpoints.md /admin/config: hyphenated keys, Go duration strings, the same validation
// as at start, unknown keys refused, updates atomic.
test('/admin/config takes llm-d-inference-sim\'s keys and durations, and kvgate\'s own keys', async () => {
  const s = await sim();
  try {
    const set = await post(s, '/admin/config', { 'inter-token-latency': '5ms', 'time-to-first-token': '30ms', 'failure-injection-rate': 0, 'time-factor-under-load': 1.5 });
    assert.equal(set.status, 200);
    assert.equal(set.json['inter-token-latency'], '5ms');
    assert.equal(set.json['time-to-first-token'], '30ms');
    assert.equal(set.json['time-factor-under-load'], 1.5);
    const model = s.engine.latencyModel;
    assert.equal(model.stepBaseMs, 5);
    assert.equal(model.prefillOverheadMs, 25, 'TTFT = base step + prefill part');
    assert.equal(model.timeFactorUnderLoad, 1.5);
    const old = await post(s, '/admin/config', { step_base_ms: 3, failure_types: ['rate_limit'] });
    assert.equal(old.json.step_base_ms, 3);
    assert.deepEqual(old.json['failure-types'], ['rate_limit']);
    const unknown = await post(s, '/admin/config', { 'max-num-seqs': 3 });
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error.message, /field 'max-num-seqs' is not admin-configurable/);
    const tooWide = await post(s, '/admin/config', { 'inter-token-latency': '10ms', 'inter-token-latency-std-dev': '5ms', 'failure-injection-rate': 50 });
    assert.equal(tooWide.status, 400);
    assert.match(tooWide.json.error.message, /cannot be more than 30% of inter token latency/);
    const after = (await (await fetch(`${s.url}/admin/config`)).json()) as Json;
    assert.equal(after['failure-injection-rate'], 0, 'a refused update changes nothing');
    assert.equal(after['inter-token-latency'], '5ms');
  } finally {
    await s.close();
  }
});

test('fake-metrics generators follow llm-d-inference-sim\'s shapes', () => {
  const ramp = parseFakeFunction('ramp:0:10:10s');
  assert.equal(fakeValueAt(ramp, 5000), 5);
  assert.equal(fakeValueAt(ramp, 20_000), 10);
  assert.equal(fakeValueAt(parseFakeFunction('rampreset:0:10:10s'), 15_000), 5);
  assert.equal(fakeValueAt(parseFakeFunction('squarewave:1:9:10s'), 2000), 1);
  assert.equal(fakeValueAt(parseFakeFunction('squarewave:1:9:10s'), 7000), 9);
  const osc = parseFakeFunction('oscillate:0:10:4s');
  assert.ok(Math.abs(fakeValueAt(osc, 1000) - 10) < 1e-9);
  assert.throws(() => parseFakeFunction('zigzag:0:1:1s'), /unknown fake metric function/);
});

// docs/configuration.md --fake-metrics: only the fake values are reported; bucket arrays are
// per-bucket counts; partial updates through /admin/config (and the deprecated /fake_metrics).
test('--fake-metrics replaces the real metrics and updates partially', async () => {
  const s = await sim({
    fakeMetrics: {
      'running-requests': 16,
      'waiting-requests': 'squarewave:3:3:1s',
      'kv-cache-usage': 0.3,
      loras: ['{"running":"lora1,lora2","waiting":"lora3","timestamp":1257894567}', { running: 'lora1', waiting: '', timestamp: 1257894569 }],
      'ttft-buckets-values': [10, 20, 30],
      'request-success-total': { stop: 20 },
      'total-prompt-tokens': 500,
    },
  });
  try {
    await post(s, '/v1/completions', { model: MODEL, prompt: 'real traffic', max_tokens: 2 });
    let { samples } = await metrics(s);
    const L = { model_name: MODEL };
    assert.equal(sampleValue(samples, 'vllm:num_requests_running', L), 16);
    assert.equal(sampleValue(samples, 'vllm:num_requests_waiting', L), 3);
    assert.equal(sampleValue(samples, 'vllm:kv_cache_usage_perc', L), 0.3);
    assert.equal(sampleValue(samples, 'vllm:request_success_total', { finished_reason: 'stop' }), 20);
    assert.equal(sampleValue(samples, 'vllm:request_success_total', { finished_reason: 'length' }), 0, 'the real request is not counted');
    assert.equal(sampleValue(samples, 'vllm:prompt_tokens_total', L), 500);
    assert.equal(sampleValue(samples, 'vllm:time_to_first_token_seconds_bucket', { le: '0.001' }), 10);
    assert.equal(sampleValue(samples, 'vllm:time_to_first_token_seconds_bucket', { le: '0.01' }), 60);
    assert.equal(sampleValue(samples, 'vllm:time_to_first_token_seconds_count', L), 60);
    const loras = samples.filter((x) => x.name === 'vllm:lora_requests_info');
    assert.deepEqual(loras.map((x) => [x.labels.running_lora_adapters, x.labels.waiting_lora_adapters, x.value]), [['lora1,lora2', 'lora3', 1257894567], ['lora1', '', 1257894569]]);
    const upd = await post(s, '/admin/config', { 'fake-metrics': { 'running-requests': 7, 'ttft-buckets-values': null } });
    assert.equal(upd.status, 200);
    assert.equal((await post(s, '/fake_metrics', { 'kv-cache-usage': 0.5 })).status, 204);
    ({ samples } = await metrics(s));
    assert.equal(sampleValue(samples, 'vllm:num_requests_running', L), 7);
    assert.equal(sampleValue(samples, 'vllm:kv_cache_usage_perc', L), 0.5);
    assert.equal(sampleValue(samples, 'vllm:time_to_first_token_seconds_count', L), 60, 'null leaves a field unchanged');
    assert.equal((await post(s, '/admin/config', { 'fake-metrics': { 'kv-cache-usage': 2 } })).status, 400);
  } finally {
    await s.close();
  }
  const real = await sim();
  try {
    const r = await post(real, '/admin/config', { 'fake-metrics': { 'running-requests': 1 } });
    assert.equal(r.status, 400, 'fake metrics only when started with them');
  } finally {
    await real.close();
  }
});

// vLLM P/D (NixlConnector): a prefill request (do_remote_decode) answers with kv_transfer_params
// naming its blocks; a decode request (do_remote_prefill) pulls the KV instead of computing it.
// llm-d-inference-sim: prefill does not stream; TTFT is the kv-cache-transfer latency.
test('P/D: prefill answers kv_transfer_params; decode pulls the KV and reports it cached', async () => {
  const prefill = await sim();
  const decodeSim = await sim({ kvCacheTransferLatency: 5 });
  try {
    const prompt = 'Disaggregated prefill and decode. '.repeat(10);
    const p = await post(prefill, '/v1/completions', { model: MODEL, prompt, max_tokens: 1, kv_transfer_params: { do_remote_decode: true } });
    assert.equal(p.status, 200);
    const ktp = p.json.kv_transfer_params;
    assert.equal(ktp.do_remote_prefill, true);
    assert.equal(ktp.do_remote_decode, false);
    assert.equal(ktp.remote_block_ids.length, Math.ceil((p.json.usage.prompt_tokens + 1) / 16));
    assert.equal(typeof ktp.remote_engine_id, 'string');
    assert.equal(typeof ktp.remote_port, 'number');
    const streamed = await post(prefill, '/v1/completions', { model: MODEL, prompt, max_tokens: 1, stream: true, kv_transfer_params: { do_remote_decode: true } });
    assert.equal(streamed.status, 400);
    assert.match(streamed.json.error.message, /Prefill does not support streaming/);

    const d = await post(decodeSim, '/v1/completions', { model: MODEL, prompt, max_tokens: 4, kv_transfer_params: ktp });
    assert.equal(d.status, 200);
    assert.equal(d.json.kv_transfer_params, undefined);
    const n = d.json.usage.prompt_tokens;
    assert.equal(d.json.usage.prompt_tokens_details.cached_tokens, n - 1, 'all but the last prompt token pulled');
    const { samples } = await metrics(decodeSim);
    assert.equal(sampleValue(samples, 'vllm:external_prefix_cache_hits_total', {}), n - 1);
    assert.equal(sampleValue(samples, 'vllm:prompt_tokens_by_source_total', { source: 'external_kv_transfer' }), n - 1);
    assert.equal(sampleValue(samples, 'vllm:prompt_tokens_by_source_total', { source: 'local_compute' }), 1);
  } finally {
    await prefill.close();
    await decodeSim.close();
  }
});

// docs/configuration.md SSL: --ssl-certfile/--ssl-keyfile, or --self-signed-certs.
test('HTTPS with given certificates or a self-signed one', async () => {
  const pki = makeTestPki();
  const withCerts = await sim({ sslCertFile: pki.serverCert, sslKeyFile: pki.serverKey });
  const self = await sim({ selfSignedCerts: true });
  try {
    assert.ok(withCerts.url.startsWith('https://'));
    const trusting = new Agent({ connect: { ca: (await import('node:fs')).readFileSync(pki.ca) } });
    const r = await request(`${withCerts.url}/v1/models`, { dispatcher: trusting });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    const r2 = await request(`${self.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'tls', max_tokens: 1 }), dispatcher: insecure });
    assert.equal(r2.statusCode, 200);
    await r2.body.dump();
    await trusting.close();
    await insecure.close();
  } finally {
    await withCerts.close();
    await self.close();
  }
  await assert.rejects(sim({ sslCertFile: pki.serverCert }), /both ssl-certfile and ssl-keyfile must be provided together/);
});

async function subscribe(port: number, got: { seq: bigint; batch: Json }[]) {
  const sub = new zmq.Subscriber();
  sub.connect(`tcp://127.0.0.1:${port}`);
  sub.subscribe();
  void (async () => {
    try {
      for await (const [, seq, payload] of sub) got.push({ seq: seq.readBigUInt64BE(), batch: decode(payload, { useBigInt64: true }) });
    } catch {
      // closed
    }
  })();
  return sub;
}

// docs/configuration.md "Data parallel": rank i serves on port+i, publishes on the ZMQ endpoint's
// port+i, and puts data_parallel_rank i in every batch (vLLM offsets KV endpoints the same way).
test('--data-parallel-size runs ranks on consecutive ports with offset KV-event endpoints', async () => {
  const [httpBase, kvBase] = [await freePortPair(), await freePortPair()];
  const ranks = await startSimRanks({ port: httpBase, profile: 'instant', kvEventsEndpoint: `tcp://*:${kvBase}` }, { dataParallelSize: 2 });
  const got0: { seq: bigint; batch: Json }[] = [];
  const got1: { seq: bigint; batch: Json }[] = [];
  const subs = [await subscribe(kvBase, got0), await subscribe(kvBase + 1, got1)];
  try {
    assert.deepEqual(ranks.map((r) => r.port), [httpBase, httpBase + 1]);
    const prompt = 'k'.repeat(200);
    await until(async () => {
      // PUB/SUB joins are asynchronous: send until each rank's subscriber sees a batch.
      for (const r of ranks) await post(r, '/v1/completions', { model: MODEL, prompt, max_tokens: 1 });
      await post(ranks[0], '/reset_prefix_cache', '');
      await post(ranks[1], '/reset_prefix_cache', '');
      return got0.length > 0 && got1.length > 0;
    });
    assert.ok(got0.every((g) => g.batch[2] === 0));
    assert.ok(got1.every((g) => g.batch[2] === 1));
    const { samples } = await metrics(ranks[1]);
    assert.ok(samples.some((x) => x.name === 'vllm:num_requests_running' && x.labels.engine === '1'), 'engine label = rank');
  } finally {
    for (const s of subs) s.close();
    await Promise.all(ranks.map((r) => r.close()));
  }
});

// docs/kv-cache.md: event-batch-size bounds the events per published batch.
test('--event-batch-size splits a step\'s events into smaller batches', async () => {
  const kv = await freePort();
  const s = await sim({ kvEventsEndpoint: `tcp://*:${kv}`, kvEventsBatchSize: 2 });
  const got: { seq: bigint; batch: Json }[] = [];
  const sub = await subscribe(kv, got);
  try {
    await until(async () => {
      await post(s, '/v1/completions', { model: MODEL, prompt: 'b'.repeat(16 * 4 * 6), max_tokens: 1 });
      await post(s, '/reset_prefix_cache', '');
      return got.some((g) => g.batch[1].length === 2);
    });
    assert.ok(got.every((g) => g.batch[1].length <= 2));
  } finally {
    sub.close();
    await s.close();
  }
});

// docs/kv-cache.md: with --enable-kvcache the simulator dials --zmq-endpoint (the subscriber
// binds) and publishes on topic kv@<POD_IP>:<port>@<model>; --hash-seed seeds the block hashes.
test('--enable-kvcache dials --zmq-endpoint with llm-d\'s topic', async () => {
  const { spawnKvgate, waitForOutput } = await import('../helpers/cli.js');
  const kv = await freePort();
  const sub = new zmq.Subscriber();
  await sub.bind(`tcp://127.0.0.1:${kv}`);
  sub.subscribe();
  const got: { topic: string; batch: Json }[] = [];
  void (async () => {
    try {
      for await (const [topic, , payload] of sub) got.push({ topic: topic.toString(), batch: decode(payload, { useBigInt64: true }) });
    } catch {
      // closed
    }
  })();
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--model', 'm/x', '--enable-kvcache', '--zmq-endpoint', `tcp://127.0.0.1:${kv}`, '--hash-seed', '7'], { env: { POD_IP: '10.1.2.3' } });
  try {
    const line = await waitForOutput(child, /listening on (http:\/\/\S+)/);
    const url = line.split(' ').find((w) => w.startsWith('http'))!;
    const port = new URL(url).port;
    await until(async () => {
      await post(url, '/v1/completions', { model: 'm/x', prompt: 'q'.repeat(200), max_tokens: 1 });
      await post(url, '/reset_prefix_cache', '');
      return got.length > 0;
    });
    assert.equal(got[0].topic, `kv@10.1.2.3:${port}@m/x`);
    const cfg = (await (await fetch(`${url}/admin/config`)).json()) as Json;
    assert.equal(cfg['hash-seed'], '7');
  } finally {
    const exit = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await exit;
    sub.close();
  }
});
