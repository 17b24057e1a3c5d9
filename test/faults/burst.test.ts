// A burst of 10,000 requests in one second against a gateway process: each gets a defined
// answer, nothing stays queued or in flight, and memory returns near its baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { post, waitFor, MODEL } from '../gateway/helpers.js';
import { MiB, metric, rssBytes, startChild } from './helpers.js';
import { simProcess, stop, warm } from './processes.js';

test('a burst of 10,000 requests in one second: each gets 200 or a 503 with its drop reason; queue and in-flight return to zero; memory returns near its baseline', async () => {
  const sims = await Promise.all([simProcess(['--max-num-seqs', '16', '--inter-token-latency', '10']), simProcess(['--max-num-seqs', '16', '--inter-token-latency', '10'])]);
  const gw = await startChild([
    'serve',
    '--endpoints',
    sims.map((s) => s.url).join(','),
    '--port',
    '0',
    '--no-access-log',
    '--log-level',
    'error',
    '--max-queue-requests',
    '2000',
    '--queue-timeout',
    '5s',
  ]);
  const agent = new Agent({ connections: null, pipelining: 0, keepAliveTimeout: 1 });
  try {
    await warm(gw.url);
    await waitFor(async () => (await metric(gw.url, 'kvgate_endpoint_concurrency_limit')) === 48, 30_000); // 2 × 16 × 1.5
    const baseline = rssBytes(gw.child.pid!);
    const body = JSON.stringify({ model: MODEL, prompt: 'burst', max_tokens: 4 });
    const statuses = new Map<string, number>();
    const all: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) {
      if (i % 100 === 0) {
        const due = t0 + i / 10; // 10 per ms: 10,000 in one second
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      all.push(
        request(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent }).then(
          async (r) => {
            const text = await r.body.text();
            const reason = r.headers['x-llm-d-request-dropped-reason'];
            const key = r.statusCode === 200 ? '200' : `${r.statusCode} ${reason ?? JSON.parse(text).error.code}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
          },
          (e: Error & { code?: string }) => void statuses.set(`error ${e.code}`, (statuses.get(`error ${e.code}`) ?? 0) + 1),
        ),
      );
    }
    await Promise.all(all);
    const summary = Object.fromEntries(statuses);
    assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), 10_000);
    for (const k of statuses.keys()) assert.ok(['200', '503 rejected-saturated', '503 rejected-ttl-expired'].includes(k), `undefined outcome ${k}: ${JSON.stringify(summary)}`);
    assert.ok((statuses.get('200') ?? 0) > 0, JSON.stringify(summary));
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_queue_size'), 0);
    assert.equal(await metric(gw.url, 'kvgate_requests_in_flight'), 0);
    assert.equal(await metric(gw.url, 'kvgate_buffered_request_bytes'), 0);
    // RSS falls when V8's memory reducer runs a major GC after the burst, which it schedules from
    // the allocation rate, not on a clock: on a busy machine that took more than 60 s in one run
    // of three. The bound is generous; the condition (back within 100 MiB) is what is asserted.
    const t1 = performance.now();
    await waitFor(
      async () => {
        await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'after', max_tokens: 2 });
        return rssBytes(gw.child.pid!) < baseline + 100 * MiB;
      },
      180_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: RSS ${(rssBytes(gw.child.pid!) / MiB).toFixed(0)} MiB against a baseline of ${(baseline / MiB).toFixed(0)} MiB after ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    });
  } finally {
    await agent.close();
    await gw.stop();
    await Promise.all(sims.map((s) => stop(s.child)));
  }
});
