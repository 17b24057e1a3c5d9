// The gateway's and the EPP's /metrics against GIE's EPP metrics (test/fixtures/gie-metrics.json:
// names, types, label names and buckets transcribed from GIE v1.5.0 — see its "source").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { fleetWithGateway, MODEL } from '../gateway/helpers.js';
import { parsePromText } from '../helpers/prom-text.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { EnvoyLikeClient, hv, type Resp } from '../extproc/client.js';

interface GieMetric {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: string[];
  buckets?: number[];
  group: 'epp' | 'flow-control' | 'latency-predictor' | 'model-rewrite';
}
const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/gie-metrics.json', import.meta.url), 'utf8')) as { metrics: GieMetric[] };
/**
 * GIE names outside its core EPP group that kvgate emits too: the observed TTFT / TPOT histograms
 * GIE's predicted-latency plugins record (kvgate records them for every request).
 */
const ALSO_EMITTED = ['inference_objective_request_ttft_seconds', 'inference_objective_request_tpot_seconds'];
const EPP_METRICS = FIXTURE.metrics.filter((m) => m.group === 'epp' || ALSO_EMITTED.includes(m.name));

/** GIE EPP names kvgate does not emit (none: any missing name fails the test). */
const KNOWN_MISSING: string[] = [];

/**
 * Bucket differences, each with the buckets kvgate has today (so any other change fails too).
 * - scheduler_e2e: deliberate. kvgate's scheduler decides in microseconds, so it adds 10, 20 and
 *   50 µs below GIE's first bucket (100 µs); all of GIE's bounds are kept, GIE's quantiles still work.
 */
const EXTRA_BUCKETS: Record<string, number[]> = {
  inference_extension_scheduler_e2e_duration_seconds: [0.00001, 0.00002, 0.00005],
};

/** Names, types, label sets and buckets as exposed in Prometheus text. */
function exposition(text: string) {
  const { samples, types } = parsePromText(text);
  const labels = new Map<string, Set<string>>();
  const buckets = new Map<string, Set<number>>();
  for (const [name, type] of types) {
    const own = samples.filter((s) => (type === 'histogram' ? s.name === `${name}_bucket` || s.name === `${name}_sum` || s.name === `${name}_count` : s.name === name));
    if (own.length === 0) continue;
    labels.set(name, new Set(own.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== 'le')));
    if (type === 'histogram') buckets.set(name, new Set(own.filter((s) => s.labels.le !== undefined && s.labels.le !== '+Inf').map((s) => Number(s.labels.le))));
  }
  return { types, labels, buckets };
}

function compare(where: string, text: string): void {
  const { types, labels, buckets } = exposition(text);
  const missing = EPP_METRICS.filter((m) => !types.has(m.name)).map((m) => m.name);
  assert.deepEqual(missing.sort(), [...KNOWN_MISSING].sort(), `${where}: GIE EPP names missing beyond the known list (or a known one now exists: shrink KNOWN_MISSING)`);
  for (const m of EPP_METRICS) {
    if (!types.has(m.name)) continue;
    assert.equal(types.get(m.name), m.type, `${where}: ${m.name} type`);
    assert.ok(labels.has(m.name), `${where}: ${m.name} has no series after traffic`);
    assert.deepEqual([...labels.get(m.name)!].sort(), [...m.labels].sort(), `${where}: ${m.name} label names`);
    if (m.buckets) {
      const want = [...m.buckets, ...(EXTRA_BUCKETS[m.name] ?? [])].sort((a, b) => a - b);
      assert.deepEqual([...buckets.get(m.name)!].sort((a, b) => a - b), want, `${where}: ${m.name} buckets`);
    }
  }
  // Names GIE does not define are kvgate's own or the process's, never look-alikes.
  const gie = new Set(FIXTURE.metrics.map((m) => m.name));
  const foreign = [...types.keys()].filter((n) => !gie.has(n) && !/^(kvgate_|process_|nodejs_)/.test(n));
  assert.deepEqual(foreign, [], `${where}: names that are neither GIE's nor kvgate_/process_/nodejs_`);
}

test('gateway /metrics: every GIE EPP metric (but the known-missing list) with GIE\'s type, label names and buckets', async () => {
  const f = await fleetWithGateway(2);
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const prompt = 'Shared system prompt for the parity test, long enough to fill prefix blocks. '.repeat(6);
    for (let i = 0; i < 3; i++) await client.completions.create({ model: MODEL, prompt: `${prompt}${i}`, max_tokens: 3 });
    // A stream of 2+ tokens gives TPOT.
    for await (const chunk of await client.completions.create({ model: MODEL, prompt: `${prompt}stream`, max_tokens: 3, stream: true })) void chunk;
    // An error after routing labels request_error_total (the model server rejects max_tokens).
    await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 100_000_000 }), (e: { status?: number }) => e.status === 400);
    compare('gateway', await (await fetch(`${f.gateway.url}/metrics`)).text());
  } finally {
    await f.close();
  }
});

test('EPP /metrics: every GIE EPP metric (but the known-missing list) with GIE\'s type, label names and buckets', async () => {
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, config: loadConfig({ preset: 'kvgate' }), secureServing: false, metricsIntervalMs: 3_600_000 });
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    const ds = epp.router.datastore;
    ds.setEndpoints([{ id: '192.168.1.1:8000', host: '192.168.1.1', port: 8000, url: 'http://127.0.0.1:1', labels: {} }]);
    ds.updateMetrics('192.168.1.1:8000', { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0.1, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: performance.now() + 60_000 });
    const exchange = async (status: string, sse = false) => {
      const s = client.stream();
      const got: Resp[] = [];
      const ended = new Promise<void>((r) => s.on('end', () => r()));
      s.on('data', (d: Resp) => got.push(d));
      s.write({ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } });
      s.write({ request_body: { body: Buffer.from(JSON.stringify({ model: 'm', prompt: 'parity '.repeat(40), max_tokens: 2, stream: sse })), end_of_stream: true } });
      s.write({ response_headers: { headers: { headers: [hv(':status', status), hv('content-type', sse ? 'text/event-stream' : 'application/json')] } } });
      const usage = '"usage":{"prompt_tokens":70,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":64}}';
      s.write({ response_body: { body: Buffer.from(sse ? `data: {"choices":[{"text":"o"}]}\n\ndata: {"choices":[{"text":"k"}]}\n\ndata: {"choices":[],${usage}}\n\ndata: [DONE]\n\n` : `{"choices":[{"text":"ok"}],${usage}}`), end_of_stream: true } });
      s.end();
      await ended;
    };
    await exchange('200');
    await exchange('200', true);
    await exchange('500');
    compare('EPP', await (await fetch(`http://127.0.0.1:${epp.metricsPort}/metrics`)).text());
  } finally {
    client.close();
    await epp.close();
  }
});
