// The EPP sees the response body (FULL_DUPLEX_STREAMED): a 200 SSE stream that ends without
// vLLM's closing `data: [DONE]` gets the gateway's upstream_failed error event appended, is logged
// as an error, and counts toward its endpoint's ejection; a complete stream does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { EnvoyLikeClient, hv, type Resp } from './client.js';
import { seeded } from '../router/helpers.js';
import { capturingLogger } from '../helpers/log-capture.js';

const POD = '10.2.0.1:8000';

/** One request through the EPP whose upstream streams `parts` (the last with end_of_stream): the body sent back. */
async function exchange(client: EnvoyLikeClient, parts: string[]): Promise<string> {
  const s = client.stream();
  const got: Resp[] = [];
  let wake = () => {};
  s.on('data', (d: Resp) => {
    got.push(d);
    wake();
  });
  const until = (cond: () => boolean) => new Promise<void>((r) => (wake = () => cond() && r(), wake()));
  s.write({ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } });
  s.write({ request_body: { body: Buffer.from('{"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":true}}'), end_of_stream: true } });
  await until(() => got.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream));
  s.write({ response_headers: { headers: { headers: [hv(':status', '200'), hv('content-type', 'text/event-stream')] } } });
  parts.forEach((p, i) => s.write({ response_body: { body: Buffer.from(p), end_of_stream: i === parts.length - 1 } }));
  const bodies = () => got.filter((r) => r.response_body);
  await until(() => bodies().length === parts.length);
  s.end();
  return bodies()
    .map((r) => Buffer.from(r.response_body!.response!.body_mutation!.streamed_response!.body ?? []).toString())
    .join('');
}

test('EPP: a stream cut without data: [DONE] ends with the upstream_failed event, is logged as an error and ejects after three', async () => {
  const { logger, lines } = capturingLogger();
  const epp = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig(), secureServing: false, random: seeded(4), metricsIntervalMs: 3_600_000, healthIntervalMs: 0, logger, accessLog: true, flowControl: { enabled: false } });
  epp.router.datastore.setEndpoints([{ id: POD, host: '10.2.0.1', port: 8000, url: 'http://127.0.0.1:1', labels: {} }]);
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    const event = 'data: {"id":"x","choices":[{"text":"a"}]}\n\n';
    const whole = await exchange(client, [event, 'data: [DONE]\n\n']);
    assert.equal(whole, `${event}data: [DONE]\n\n`, 'a complete stream passes unchanged');
    for (let i = 0; i < 3; i++) {
      assert.equal(epp.router.datastore.get(POD)!.healthy, true);
      const cut = await exchange(client, [event, 'data: {"id":"x","choi']);
      assert.ok(cut.startsWith(`${event}data: {"id":"x","choi\n\ndata: `), cut);
      const err = JSON.parse(cut.split('\n\n').filter(Boolean).at(-1)!.slice('data: '.length)) as { error: { code: string } };
      assert.equal(err.error.code, 'upstream_failed');
    }
    assert.equal(epp.router.datastore.get(POD)!.healthy, false, 'three streams in a row cut short eject the endpoint');
    const logged = lines.filter((l) => l.msg === 'request').map((l) => [l.status, l.errorCode]);
    assert.deepEqual(logged, [
      [200, undefined],
      [200, 'upstream_failed'],
      [200, 'upstream_failed'],
      [200, 'upstream_failed'],
    ]);
  } finally {
    client.close();
    await epp.close();
  }
});
