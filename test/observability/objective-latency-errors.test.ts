// GIE's per-objective TTFT / TPOT histograms and its canonical error codes, through both ingresses
// (the OpenAI gateway, and Envoy + the ext_proc EPP) in front of real `kvgate sim` replicas. Only
// counters are asserted, never elapsed time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startSimServer } from '../../src/sim/server.js';
import { bothIngresses } from '../helpers/both-ingresses.js';
import { parsePromText, sampleValue, type Sample } from '../helpers/prom-text.js';
import { waitFor } from '../gateway/helpers.js';
import { GieErrorCode } from '../../src/router/observability/gie-error-code.js';

type Env = Awaited<ReturnType<typeof bothIngresses>>;
type Ingress = 'gateway' | 'EPP';
const INGRESSES: Ingress[] = ['gateway', 'EPP'];
const MODELS = ['org/a', 'org/b'];

async function scrape(env: Env, via: Ingress): Promise<Sample[]> {
  return parsePromText(await (await fetch(via === 'gateway' ? `${env.gw.url}/metrics` : env.eppMetricsUrl)).text()).samples;
}

/** One request through `via`: its status and body. */
async function send(env: Env, via: Ingress, path: string, body: Record<string, unknown>): Promise<{ status: number; text: string }> {
  if (via === 'EPP') {
    const r = await env.envoy(path, body);
    return { status: r.status, text: r.body.toString() };
  }
  const r = await fetch(`${env.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

const objective = (model: string) => ({ model_name: model, target_model_name: model });
const count = (samples: Sample[], histogram: string, model: string) => sampleValue(samples, `${histogram}_count`, objective(model)) ?? 0;
const requests = (samples: Sample[]) => samples.filter((s) => s.name === 'inference_objective_request_total').reduce((a, s) => a + s.value, 0);

/** The request shapes sent per model: streamed or not, one output token or several. */
const SHAPES = [
  { path: '/v1/chat/completions', stream: true, maxTokens: 4 },
  { path: '/v1/completions', stream: true, maxTokens: 2 },
  { path: '/v1/completions', stream: true, maxTokens: 1 },
  { path: '/v1/completions', stream: false, maxTokens: 3 },
  { path: '/v1/chat/completions', stream: false, maxTokens: 1 },
];
/** TPOT needs a token after the first, and a stream: a response that is not streamed arrives whole. */
const WITH_TPOT = SHAPES.filter((s) => s.stream && s.maxTokens >= 2).length;

test('every successful request adds one TTFT observation per model, and streams of 2+ tokens one TPOT (gateway and EPP)', async () => {
  const sims = await Promise.all(MODELS.map((model, seed) => startSimServer({ port: 0, profile: 'instant', model, seed })));
  const env = await bothIngresses(sims);
  try {
    for (const via of INGRESSES) {
      const before = await scrape(env, via);
      let sent = 0;
      for (const model of MODELS) {
        for (const [i, s] of SHAPES.entries()) {
          const body = s.path === '/v1/completions' ? { model, prompt: `latency ${via} ${i}`, max_tokens: s.maxTokens, stream: s.stream } : { model, messages: [{ role: 'user', content: `latency ${via} ${i}` }], max_tokens: s.maxTokens, stream: s.stream };
          const r = await send(env, via, s.path, { ...body, ignore_eos: true });
          assert.equal(r.status, 200, `${via} ${model} ${i}: ${r.text}`);
          sent++;
        }
      }
      // The gateway records a request as its response ends; wait until all are counted.
      await waitFor(async () => requests(await scrape(env, via)) === requests(before) + sent);
      const after = await scrape(env, via);
      for (const model of MODELS) {
        assert.equal(count(after, 'inference_objective_request_ttft_seconds', model) - count(before, 'inference_objective_request_ttft_seconds', model), SHAPES.length, `${via} ${model}: TTFT observations`);
        assert.equal(count(after, 'inference_objective_request_tpot_seconds', model) - count(before, 'inference_objective_request_tpot_seconds', model), WITH_TPOT, `${via} ${model}: TPOT observations`);
      }
    }
  } finally {
    await env.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});

test("errors are counted under GIE's codes: an unknown model NotFound, a replica's 5xx ModelServerError; kvgate's own code stays in the access log (gateway and EPP)", async () => {
  const good = await startSimServer({ port: 0, profile: 'instant', model: 'org/a' });
  // The sim's injected server error is vLLM's overloaded answer, a 503.
  const broken = await startSimServer({ port: 0, profile: 'instant', model: 'org/broken', failureInjectionRate: 100, failureTypes: ['server_error'] });
  const logs: Record<Ingress, Record<string, unknown>[]> = { gateway: [], EPP: [] };
  const sink = (into: Record<string, unknown>[]) => pino(new Writable({ write: (c, _e, cb) => (into.push(JSON.parse(c.toString())), cb()) }));
  const env = await bothIngresses([good, broken], { logger: sink(logs.gateway), eppLogger: sink(logs.EPP) });
  try {
    for (const via of INGRESSES) {
      const unknown = await send(env, via, '/v1/completions', { model: 'org/nobody', prompt: 'x', max_tokens: 1 });
      assert.equal(unknown.status, 404, unknown.text);
      const failed = await send(env, via, '/v1/completions', { model: 'org/broken', prompt: 'x', max_tokens: 1 });
      assert.equal(failed.status, 503, failed.text);
      await waitFor(async () => requests(await scrape(env, via)) === 2);
      const samples = await scrape(env, via);
      const errors = samples.filter((s) => s.name === 'inference_objective_request_error_total');
      assert.deepEqual(
        errors.map((s) => [s.labels.model_name, s.labels.error_code, s.value]).sort(),
        [['', GieErrorCode.NotFound, 1], ['org/broken', GieErrorCode.ModelServerError, 1]].sort(),
        `${via}: error_total series`,
      );
      await waitFor(() => logs[via].filter((l) => l.msg === 'request').length === 2);
      assert.deepEqual(logs[via].filter((l) => l.msg === 'request').map((l) => l.errorCode).sort(), ['model_not_found', 'upstream_503'], `${via}: the access log keeps kvgate's code`);
    }
  } finally {
    await env.close();
    await good.close();
    await broken.close();
  }
});
