// A model server that answers a non-streamed request with 200 and a body that is not JSON: the
// request is marked (kvgate_upstream_invalid_responses_total{reason="invalid_json"}, the access
// log's invalidResponse) and no token counts are recorded for it, through both ingresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningSim } from '../../src/sim/server.js';
import { bothIngresses } from '../helpers/both-ingresses.js';
import { waitFor } from './helpers.js';
import { scriptedReplica } from '../helpers/scripted-replica.js';
import { capturingLogger } from '../helpers/log-capture.js';

const GOOD = JSON.stringify({ id: 'c1', object: 'text_completion', choices: [{ index: 0, text: 'ok', finish_reason: 'stop' }], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
/** Not JSON, though it holds a usage member the fast path could cut out: zero tokens, were it believed. */
const GARBAGE = '{"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}} <html>proxy error</html>';

/** A replica that answers each POST with 200, JSON or not as the prompt says. */
const upstream = () =>
  scriptedReplica((body, res) => {
    const garbage = (JSON.parse(body) as { prompt: string }).prompt === 'garbage';
    res.writeHead(200, { 'content-type': garbage ? 'text/html' : 'application/json' }).end(garbage ? GARBAGE : GOOD);
  });

const sample = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);

test('a 200 whose body is not JSON is counted as invalid_json, logged, and records no token counts (gateway and EPP)', async () => {
  const up = await upstream();
  const { logger, lines } = capturingLogger();
  const { logger: eppLogger, lines: eppLines } = capturingLogger();
  const env = await bothIngresses([{ url: up.url } as RunningSim], { logger, eppLogger });
  try {
    const invalid = 'kvgate_upstream_invalid_responses_total{reason="invalid_json"}';
    const input = 'inference_objective_input_tokens_count{model_name="m",target_model_name="m"}';
    const output = 'inference_objective_output_tokens_count{model_name="m",target_model_name="m"}';
    for (const [url, send, log] of [
      [`${env.gw.url}/metrics`, (b: unknown) => fetch(`${env.gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) }).then(async (r) => ({ status: r.status, body: await r.text() })), lines],
      [env.eppMetricsUrl, (b: unknown) => env.envoy('/v1/completions', b).then((r) => ({ status: r.status, body: r.body.toString() })), eppLines],
    ] as const) {
      assert.equal(sample(await (await fetch(url)).text(), invalid), 0, 'the series is there from the start');
      // A good response first: counted with its tokens, not marked.
      const good = await send({ model: 'm', prompt: 'good', max_tokens: 3 });
      assert.equal(good.status, 200);
      await waitFor(() => log.filter((l) => l.msg === 'request').length === 1);
      const goodLog = log.find((l) => l.msg === 'request')!;
      assert.deepEqual([goodLog.promptTokens, goodLog.completionTokens, goodLog.invalidResponse], [7, 3, undefined]);
      let m = await (await fetch(url)).text();
      assert.deepEqual([sample(m, input), sample(m, output), sample(m, invalid)], [1, 1, 0]);

      const bad = await send({ model: 'm', prompt: 'garbage', max_tokens: 3 });
      assert.equal(bad.status, 200, 'the client gets what the model server sent');
      assert.equal(bad.body, GARBAGE);
      await waitFor(() => log.filter((l) => l.msg === 'request').length === 2);
      const badLog = log.filter((l) => l.msg === 'request')[1];
      assert.equal(badLog.invalidResponse, 'invalid_json');
      assert.deepEqual([badLog.promptTokens, badLog.completionTokens, badLog.cachedTokens], [undefined, undefined, undefined]);
      m = await (await fetch(url)).text();
      assert.deepEqual([sample(m, input), sample(m, output), sample(m, invalid)], [1, 1, 1], 'no zero-token observations for the invalid body');
    }
  } finally {
    await env.close();
    await up.close();
  }
});

test('a streamed request answered 200 with text/html is counted as invalid_json, and the metric help says streamed requests count', async () => {
  const up = await upstream();
  const { logger, lines } = capturingLogger();
  const env = await bothIngresses([{ url: up.url } as RunningSim], { logger });
  try {
    const r = await fetch(`${env.gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'garbage', max_tokens: 3, stream: true }) });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), GARBAGE, 'forwarded as it came');
    await waitFor(() => lines.some((l) => l.msg === 'request'));
    assert.equal(lines.find((l) => l.msg === 'request')!.invalidResponse, 'invalid_json');
    const m = await (await fetch(`${env.gw.url}/metrics`)).text();
    assert.equal(sample(m, 'kvgate_upstream_invalid_responses_total{reason="invalid_json"}'), 1);
    const help = /^# HELP kvgate_upstream_invalid_responses_total (.*)$/m.exec(m)?.[1] ?? '';
    assert.doesNotMatch(help, /non-streamed body/, 'the help must not say only non-streamed bodies count');
    assert.match(help, /streamed one/, help);
  } finally {
    await env.close();
    await up.close();
  }
});
