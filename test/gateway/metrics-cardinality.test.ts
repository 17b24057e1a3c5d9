// Label values that clients choose must not grow /metrics without bound: a model name nobody
// serves, and (with trusted routing headers) the priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { fleetWithGateway, MODEL, post } from './helpers.js';
import { parsePromText, sampleValue, type Sample } from '../helpers/prom-text.js';
import { DEFAULT_MAX_SERIES } from '../../src/router/observability/labeled-metrics.js';
import { readFileSync } from 'node:fs';

async function scrape(url: string): Promise<Sample[]> {
  return parsePromText(await (await fetch(`${url}/metrics`)).text()).samples;
}

/** Samples of the gateway's own families (process metrics vary with the runtime, not with requests). */
const ownSamples = (samples: Sample[]) => samples.filter((s) => /^(inference_|kvgate_)/.test(s.name));

/** Sends `n` requests, `width` at a time; `send(i)` is request i. */
async function inBatches(n: number, width: number, send: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += width) await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => send(i + k)));
}

test('unknown model names are counted under model_name="" and do not add series, however many there are', async () => {
  const env = await fleetWithGateway(1);
  try {
    const unknown = async (i: number) => {
      const r = await post(`${env.gateway.url}/v1/completions`, { model: `m${i}`, prompt: 'hi', max_tokens: 1 });
      assert.equal(r.status, 404);
      assert.equal(r.json.error.code, 'model_not_found');
    };
    await inBatches(3, 3, unknown);
    const first = ownSamples(await scrape(env.gateway.url)).length;
    await inBatches(400, 16, (i) => unknown(i + 3));
    const samples = ownSamples(await scrape(env.gateway.url));
    assert.equal(samples.length, first, 'the same series after 403 unknown names as after 3');
    assert.deepEqual(samples.filter((s) => /^m\d+$/.test(s.labels.model_name ?? s.labels.target_model_name ?? '')), [], 'no series names a client-chosen model');
    const unserved = { model_name: '', target_model_name: '' };
    assert.equal(sampleValue(samples, 'inference_objective_request_error_total', { ...unserved, error_code: 'NotFound' }), 403, 'every 404 is still counted (under GIE\'s code)');
    assert.equal(sampleValue(samples, 'inference_objective_request_total', { ...unserved, priority: '0' }), 403);
    // A served model keeps its own label.
    assert.equal((await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 1 })).status, 200);
    assert.equal(sampleValue(await scrape(env.gateway.url), 'inference_objective_request_total', { model_name: MODEL, target_model_name: MODEL, priority: '0' }), 1);
  } finally {
    await env.close();
  }
});

test('a fresh gateway exposes kvgate_metric_series_overflow_total at 0 for its labelled metrics, and every family docs/gateway.md lists for GET /metrics', async () => {
  const env = await fleetWithGateway(1);
  try {
    const text = await (await fetch(`${env.gateway.url}/metrics`)).text();
    const { samples, types } = parsePromText(text);
    const overflow = samples.filter((s) => s.name === 'kvgate_metric_series_overflow_total');
    for (const metric of ['inference_objective_request_total', 'inference_objective_request_error_total', 'kvgate_endpoint_picks_total', 'inference_extension_flow_control_request_queue_duration_seconds']) {
      assert.equal(sampleValue(overflow, 'kvgate_metric_series_overflow_total', { metric }), 0, `${metric}: its overflow count starts at 0`);
    }
    assert.ok(overflow.every((s) => s.value === 0 && types.has(s.labels.metric)), 'one series per registered metric, all 0');
    // The names the doc's GET /metrics row spells out in full (the "…_" abbreviations aside).
    const row = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8').split('\n').find((l) => l.startsWith('| `GET /metrics` |'))!;
    const documented = [...row.matchAll(/`((?:inference|kvgate)_[a-z_]+)(?:\{[^}]*\})?`/g)].map((m) => m[1]);
    assert.ok(documented.includes('kvgate_metric_series_overflow_total'));
    assert.deepEqual(documented.filter((n) => !types.has(n)), [], 'documented families on /metrics from the start');
  } finally {
    await env.close();
  }
});

test('distinct trusted priorities past the series limit fold into the overflow series: counted, and reported once', async () => {
  const lines: { msg?: string; metric?: string }[] = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(c.toString())), cb()) });
  const env = await fleetWithGateway(1, { trustRoutingHeaders: true, accessLog: false, logger: pino(sink) });
  try {
    const n = DEFAULT_MAX_SERIES + 50;
    await inBatches(n, 16, async (i) => {
      const r = await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 1 }, { 'x-kvgate-priority': String(i) });
      assert.equal(r.status, 200);
    });
    const samples = await scrape(env.gateway.url);
    const totals = samples.filter((s) => s.name === 'inference_objective_request_total');
    assert.equal(totals.length, DEFAULT_MAX_SERIES + 1, 'the limit, plus one overflow series');
    assert.equal(totals.reduce((a, s) => a + s.value, 0), n, 'every request is counted');
    assert.equal(sampleValue(samples, 'inference_objective_request_total', { model_name: '__overflow__', priority: '__overflow__' }), 50);
    assert.equal(sampleValue(samples, 'kvgate_metric_series_overflow_total', { metric: 'inference_objective_request_total' }), 50);
    const queueSeries = samples.filter((s) => s.name === 'inference_extension_flow_control_request_queue_duration_seconds_count');
    assert.equal(queueSeries.length, DEFAULT_MAX_SERIES + 1, 'the flow-control histogram (priority label) is bounded too');
    const warnings = lines.filter((l) => l.msg?.startsWith('metric reached its series limit')).map((l) => l.metric);
    assert.deepEqual(warnings.sort(), ['inference_extension_flow_control_request_queue_duration_seconds', 'inference_objective_request_total'], 'one warning per metric');
  } finally {
    await env.close();
  }
});

test('requests refused before their body names a model (invalid JSON, no model) are counted too, under model_name=""', async () => {
  const env = await fleetWithGateway(1);
  try {
    const bad = await fetch(`${env.gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ' });
    assert.equal(bad.status, 400);
    assert.equal((await post(`${env.gateway.url}/v1/completions`, { prompt: 'hi' })).status, 400);
    const samples = await scrape(env.gateway.url);
    const unserved = { model_name: '', target_model_name: '' };
    // invalid_json and missing_model are both GIE's BadRequest.
    assert.equal(sampleValue(samples, 'inference_objective_request_error_total', { ...unserved, error_code: 'BadRequest' }), 2);
    assert.equal(sampleValue(samples, 'inference_objective_request_total', { ...unserved, priority: '0' }), 2);
  } finally {
    await env.close();
  }
});
