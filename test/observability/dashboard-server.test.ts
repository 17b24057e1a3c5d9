import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import OpenAI from 'openai';
import { fleetWithGateway, MODEL, post, waitFor } from '../gateway/helpers.js';
import type { FleetEvent } from '../../src/observability/fleet-snapshot.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parsePromText, type Sample } from '../helpers/prom-text.js';

/** Σ of a family's samples on the gateway's /metrics (all label sets). */
async function metricSum(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  return samples.filter((x: Sample) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/** Reads SSE `fleet` events from `url` until `until` returns true (or the deadline). */
function readEvents(url: string, headers: Record<string, string>, until: (events: FleetEvent[]) => boolean, ms = 15_000): Promise<{ status: number; contentType: string; events: FleetEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: FleetEvent[] = [];
    const req = request(url, { headers }, (res) => {
      let buf = '';
      const done = () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), events });
      };
      if (res.statusCode !== 200) {
        res.resume();
        return done();
      }
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (/^event: fleet$/m.test(frame) && data) events.push(JSON.parse(data.slice(6)) as FleetEvent);
        }
        if (until(events)) done();
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE: condition not met in ${ms} ms after ${events.length} events`));
    }, ms);
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}

test('gateway /dashboard: page, SSE with history then one point per second, decisions and completions from real requests', async () => {
  const f = await fleetWithGateway(3);
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'unused' });
    const prompt = 'You are a helpful assistant that answers questions about geography. '.repeat(8);
    for (let i = 0; i < 6; i++) {
      if (i % 2) await client.completions.create({ model: MODEL, prompt: `${prompt} Question ${i}?`, max_tokens: 3 });
      else for await (const _c of await client.completions.create({ model: MODEL, prompt: `${prompt} Question ${i}?`, max_tokens: 3, stream: true, stream_options: { include_usage: true } })) void _c;
    }
    const page = await fetch(`${f.gateway.url}/dashboard`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    const html = await page.text();
    assert.match(html, /<table id="replicas">/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org)/, 'self-contained: no external script, style or URL');
    const { status, contentType, events } = await readEvents(`${f.gateway.url}/dashboard/events`, {}, (ev) => ev.length >= 2);
    assert.equal(status, 200);
    assert.equal(contentType, 'text/event-stream');
    assert.ok(Array.isArray(events[0].history), 'first event carries the history');
    assert.ok(events[1].point && !events[1].history, 'later events carry one point');
    const s = events[1].snapshot;
    assert.equal(s.completions.total, 6);
    assert.equal(s.decisionsTotal['prefix-hit'] + s.decisionsTotal.load, 6);
    assert.ok(s.decisionsTotal['prefix-hit'] >= 1, 'a shared prompt hits');
    assert.equal(s.replicas.length, 3);
    assert.equal(s.replicas.reduce((a, r) => a + r.requests, 0), 6);
    assert.equal(s.recent.length, 6);
    assert.ok(s.recent.every((r) => r.status === 200 && r.scores.length === 3 && r.endpoint));
    assert.ok(s.latency.ttftMs.count === 6 && s.latency.ttftMs.p50! > 0, 'TTFT from all 6 responses, streamed or not');
    assert.equal(s.latency.tpotMs.count, 3, 'TPOT from the 3 streamed responses only');
    assert.equal(s.recent.filter((r) => r.ttftMs !== null).length, 6);
    const snap = (await (await fetch(`${f.gateway.url}/dashboard/snapshot`)).json()) as FleetEvent;
    assert.equal(snap.snapshot.completions.total, 6);
    assert.equal((await fetch(`${f.gateway.url}/dashboard/nope`)).status, 404);
    const posted = await fetch(`${f.gateway.url}/dashboard`, { method: 'POST' });
    assert.equal(posted.status, 405);
    assert.equal(((await posted.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
  } finally {
    await f.close();
  }
});

test('non-streamed requests: the dashboard\'s TTFT counts them as inference_objective_request_ttft_seconds does (arrival to first byte); no TPOT', async () => {
  const f = await fleetWithGateway(2);
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'unused' });
    for (let i = 0; i < 18; i++) await client.completions.create({ model: MODEL, prompt: `Question ${i}?`, max_tokens: 3 });
    const { snapshot: s } = (await (await fetch(`${f.gateway.url}/dashboard/snapshot`)).json()) as FleetEvent;
    const metric = await metricSum(f.gateway.url, 'inference_objective_request_ttft_seconds_count');
    assert.equal(metric, 18);
    assert.equal(s.latency.ttftMs.count, metric, 'dashboard TTFT samples = the metric\'s');
    assert.ok(s.latency.ttftMs.p50! > 0);
    assert.equal(s.recent.length, 18);
    assert.ok(s.recent.every((r) => r.ttftMs !== null && r.ttftMs > 0 && r.tpotMs === null), 'each request shows its TTFT, none a TPOT');
    assert.equal(s.latency.tpotMs.count, await metricSum(f.gateway.url, 'inference_objective_request_tpot_seconds_count'));
    assert.equal(s.latency.tpotMs.count, 0);
  } finally {
    await f.close();
  }
});

test('requests answered before a pick (unknown model, invalid JSON) are in the dashboard\'s completions and errors, as in inference_objective_request_total / _error_total', async () => {
  const f = await fleetWithGateway(2);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await post(`${f.gateway.url}/v1/completions`, { model: MODEL, prompt: `Question ${i}?`, max_tokens: 3 })).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await post(`${f.gateway.url}/v1/completions`, { model: 'no-such-model', prompt: 'x', max_tokens: 3 })).status, 404);
    assert.equal((await post(`${f.gateway.url}/v1/completions`, '{not json')).status, 400);
    const { snapshot: s } = (await (await fetch(`${f.gateway.url}/dashboard/snapshot`)).json()) as FleetEvent;
    assert.equal(await metricSum(f.gateway.url, 'inference_objective_request_error_total', { error_code: 'NotFound' }), 2);
    assert.deepEqual(
      { total: s.completions.total, errors: s.completions.errors },
      { total: await metricSum(f.gateway.url, 'inference_objective_request_total'), errors: await metricSum(f.gateway.url, 'inference_objective_request_error_total') },
    );
    assert.deepEqual({ total: s.completions.total, errors: s.completions.errors }, { total: 6, errors: 3 });
    assert.equal(s.replicas.reduce((a, r) => a + r.requests + r.errors, 0), 3, 'the replica rows count only what reached a replica');
  } finally {
    await f.close();
  }
});

test('gateway /dashboard with API keys: login form, ?api_key= sets a cookie and redirects, the cookie or a Bearer opens the feed', async () => {
  const f = await fleetWithGateway(2, { apiKeys: ['sekret'] });
  try {
    const page = await fetch(`${f.gateway.url}/dashboard`);
    assert.equal(page.status, 401);
    const form = await page.text();
    assert.match(form, /name="api_key"/);
    assert.doesNotMatch(form, /refused/, 'no key given yet: nothing was refused');
    const ev = await fetch(`${f.gateway.url}/dashboard/events`);
    assert.equal(ev.status, 401);
    assert.equal(((await ev.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    const wrong = await fetch(`${f.gateway.url}/dashboard?api_key=wrong`, { redirect: 'manual' });
    assert.equal(wrong.status, 401);
    // The form again, saying the key was refused (it came back unchanged, as if the page had only reloaded).
    const again = await wrong.text();
    assert.match(again, /name="api_key"/);
    assert.match(again, /That key was refused: try again\./);
    const login = await fetch(`${f.gateway.url}/dashboard?api_key=sekret`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/dashboard');
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /^kvgate_dashboard_key=[A-Za-z0-9_-]{43}; Path=\/dashboard; HttpOnly; SameSite=Strict/);
    const withCookie = await fetch(`${f.gateway.url}/dashboard`, { headers: { cookie: cookie.split(';')[0] } });
    assert.equal(withCookie.status, 200);
    await withCookie.text();
    const byCookie = await readEvents(`${f.gateway.url}/dashboard/events`, { cookie: `other=1; ${cookie.split(';')[0]}` }, (e) => e.length >= 1);
    assert.equal(byCookie.status, 200);
    const byBearer = await readEvents(`${f.gateway.url}/dashboard/events`, { authorization: 'Bearer sekret' }, (e) => e.length >= 1);
    assert.equal(byBearer.status, 200);
    assert.equal(byBearer.events[0].snapshot.replicas.length, 2);
    const badCookie = await fetch(`${f.gateway.url}/dashboard/snapshot`, { headers: { cookie: 'kvgate_dashboard_key=%E0%A4%A' } });
    assert.equal(badCookie.status, 401);
  } finally {
    await f.close();
  }
});

test('the dashboard cookie is a token derived from the key, not the key: it authenticates where it was issued; a forged one, the raw key, or one from another gateway is refused', async () => {
  const key = 'sekret-Key_0123';
  const a = await fleetWithGateway(1, { apiKeys: [key, 'other-key'] });
  const b = await fleetWithGateway(1, { apiKeys: [key] });
  try {
    const login = await fetch(`${a.gateway.url}/dashboard?api_key=${key}`, { redirect: 'manual' });
    assert.equal(login.status, 303);
    const setCookie = login.headers.get('set-cookie')!;
    const value = /^kvgate_dashboard_key=([^;]*);/.exec(setCookie)![1];
    assert.ok(!setCookie.includes(key) && !setCookie.includes(encodeURIComponent(key)), `the key is nowhere in: ${setCookie}`);
    assert.ok(!decodeURIComponent(value).includes(key) && !Buffer.from(value, 'base64url').toString('latin1').includes(key), 'nor encoded in the value');
    const snapshot = (url: string, cookie: string) => fetch(`${url}/dashboard/snapshot`, { headers: { cookie } }).then(async (r) => (await r.arrayBuffer(), r.status));
    assert.equal(await snapshot(a.gateway.url, `kvgate_dashboard_key=${value}`), 200, 'the issued cookie authenticates');
    const again = /^kvgate_dashboard_key=([^;]*);/.exec((await fetch(`${a.gateway.url}/dashboard?api_key=${key}`, { redirect: 'manual' })).headers.get('set-cookie')!)![1];
    assert.equal(again, value, 'one token per key');
    const other = /^kvgate_dashboard_key=([^;]*);/.exec((await fetch(`${a.gateway.url}/dashboard?api_key=other-key`, { redirect: 'manual' })).headers.get('set-cookie')!)![1];
    assert.notEqual(other, value, 'another key, another token');
    assert.equal(await snapshot(a.gateway.url, `kvgate_dashboard_key=${other}`), 200);
    const forged = [...value].map((c, i) => (i === 5 ? (c === 'A' ? 'B' : 'A') : c)).join('');
    for (const cookie of [`kvgate_dashboard_key=${forged}`, `kvgate_dashboard_key=${key}`, `kvgate_dashboard_key=${encodeURIComponent(key)}`, 'kvgate_dashboard_key=', `kvgate_dashboard=${value}`]) {
      assert.equal(await snapshot(a.gateway.url, cookie), 401, cookie);
    }
    assert.equal((await fetch(`${a.gateway.url}/dashboard`, { headers: { cookie: `kvgate_dashboard_key=${forged}` } })).status, 401, 'the page asks for a key again');
    // Another gateway with the same key (as after a restart) issued no such token: refused until one logs in there.
    assert.equal(await snapshot(b.gateway.url, `kvgate_dashboard_key=${value}`), 401);
    // The cookie is no bypass of the inference API's key check.
    assert.equal((await fetch(`${a.gateway.url}/v1/models`, { headers: { cookie: `kvgate_dashboard_key=${value}` } })).status, 401);
  } finally {
    await a.close();
    await b.close();
  }
});

test('EPP metrics port serves /dashboard next to /metrics, with the pool\'s endpoints', async () => {
  const f = await fleetWithGateway(2);
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: f.gateway.router.datastore.list().map((e) => e.info), secureServing: false, poolName: 'pool-a' });
  try {
    const base = `http://127.0.0.1:${epp.metricsPort}`;
    assert.equal((await fetch(`${base}/dashboard`)).status, 200);
    await waitFor(async () => {
      const j = (await (await fetch(`${base}/dashboard/snapshot`)).json()) as FleetEvent;
      return j.snapshot.pool === 'pool-a' && j.snapshot.replicas.length === 2 && j.snapshot.replicas.every((r) => r.running !== null);
    });
    assert.equal((await fetch(`${base}/metrics`)).status, 200);
    // An unknown path is a 404 with an OpenAI-style error body naming it (it was an empty body).
    const nope = await fetch(`${base}/nope?x=1`);
    assert.equal(nope.status, 404);
    assert.match(String(nope.headers.get('content-type')), /^application\/json/);
    const body = (await nope.json()) as { error: { message: string; code: string } };
    assert.equal(body.error.code, 'not_found');
    assert.match(body.error.message, /^no route for \/nope \(the EPP metrics port serves \/metrics, \/health, \/ready and \/dashboard\)$/);
  } finally {
    await epp.close();
    await f.close();
  }
});
