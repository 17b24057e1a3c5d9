import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { fleetWithGateway, MODEL } from '../gateway/helpers.js';
import { runKvgate } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { sparkline } from '../../src/observability/top/fleet-view.js';
import { startSimFleet } from '../../src/sim/fleet.js';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { clockTime } from '../../src/observability/fleet-snapshot.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

test('kvgate top prints one frame when stdout is not a terminal: replicas, requests per replica, reasons, last requests', async () => {
  const f = await fleetWithGateway(3, { apiKeys: ['k1'] });
  try {
    const client = new OpenAI({ baseURL: `${f.gateway.url}/v1`, apiKey: 'k1' });
    const prompt = 'A shared system prompt for kvgate top, long enough for a few prefix blocks. '.repeat(6);
    for (let i = 0; i < 5; i++) await client.completions.create({ model: MODEL, prompt: `${prompt}${i}`, max_tokens: 3 });
    const r = await runKvgate(['top', '--url', f.gateway.url, '--api-key', 'k1'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = plain(r.stdout);
    assert.match(out, /kvgate top — pool kvgate/);
    assert.match(out, /ready 3\/3/);
    assert.match(out, /errors 0\/5/);
    const snap = (await (await fetch(`${f.gateway.url}/dashboard/snapshot`, { headers: { authorization: 'Bearer k1' } })).json()) as { snapshot: { replicas: { id: string; requests: number }[] } };
    for (const rep of snap.snapshot.replicas) {
      const row = out.split('\n').find((l) => l.startsWith(rep.id));
      assert.ok(row, `row for ${rep.id}`);
      assert.equal(Number(row!.trim().split(/\s+/).at(-2)), rep.requests, `requests of ${rep.id}: ${row}`);
    }
    assert.match(out, /prefix-hit\s+\d/);
    assert.equal(out.split('\n').filter((l) => / → \S+ +(prefix-hit|load) +200 /.test(l)).length, 5, out);
    assert.match(out, /best \S+ \d\.\d\d \(/, 'scores of the chosen replica');

    const bad = await runKvgate(['top', '--url', f.gateway.url, '--api-key', 'nope', '--once']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /kvgate: GET .*\/dashboard\/events → 401: Incorrect API key provided\. \(pass --api-key\)/);

    // An OpenAI client's base URL (…/v1, or …/v1/) gets the hint verify and bench give (shared/v1-url-hint.ts).
    for (const url of [`${f.gateway.url}/v1`, `${f.gateway.url}/v1/`]) {
      const v1 = await runKvgate(['top', '--url', url, '--api-key', 'k1', '--once']);
      assert.equal(v1.code, 1);
      assert.ok(v1.stderr.includes(`kvgate: GET ${f.gateway.url}/v1/dashboard/events → 404: no route for /v1/dashboard/events — --url ends in /v1 and top adds /dashboard/events itself: give ${f.gateway.url}\n`), v1.stderr);
    }
    const other = await runKvgate(['top', '--url', `${f.gateway.url}/nope`, '--api-key', 'k1', '--once']);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /→ 404: no route for \/nope\/dashboard\/events \(is this a kvgate gateway or EPP metrics port\?\)/);
  } finally {
    await f.close();
  }
});

test('kvgate top: an unreachable URL and a bad --url are clear errors (exit 1)', async () => {
  const port = await freePort();
  const r = await runKvgate(['top', '--url', `http://127.0.0.1:${port}`, '--once']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kvgate: cannot reach http:\/\/127\.0\.0\.1:\d+\/dashboard\/events: connection refused/);
  const u = await runKvgate(['top', '--url', 'not a url']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /--url must start with http:\/\/ or https:\/\/ \(got "not a url"\)/);
  const s = await runKvgate(['top', '--url', 'ftp://x']);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /--url must start with http:\/\/ or https:\/\/ \(got "ftp:\/\/x"\)/);
});

test('kvgate top --url: a ?query or #fragment, or the dashboard\'s own address, is an error naming the root to give (it was joined into …?x=1/dashboard/events)', async () => {
  const port = await freePort();
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const root = `http://127.0.0.1:${port}`;
  for (const given of [`${root}?x=1`, `${root}/#top`]) {
    const r = await runKvgate(['top', '--url', given, '--once']);
    assert.equal(r.code, 1, given);
    assert.match(r.stderr, new RegExp(`^kvgate: --url "${esc(given)}" must be a base URL without a \\?query or #fragment`, 'm'), given);
  }
  for (const [path, want] of [['/dashboard', root], ['/dashboard/', root], ['/dashboard/events', root], ['/prefix/dashboard', `${root}/prefix`]]) {
    const r = await runKvgate(['top', '--url', `${root}${path}`, '--once']);
    assert.equal(r.code, 1, path);
    assert.match(r.stderr, new RegExp(`^kvgate: --url "${esc(root + path)}" is the dashboard's address: top adds /dashboard/events itself, give the server's root ${esc(want)}$`, 'm'), path);
  }
});

/** Resolves true when a TCP connect to 127.0.0.1:port is refused (nothing listens there). */
async function refused(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => (sock.destroy(), resolve(false)));
    sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('kvgate top reaches a gateway on a port of the fetch spec\'s "bad ports" list; a closed one of them is "connection refused", not "bad port"', async () => {
  // Unprivileged ports on the WHATWG list (fetch refuses them before connecting): the first free
  // one. Not fleetWithGateway: its readiness wait uses fetch, which cannot reach these ports.
  const fleet = await startSimFleet({ replicas: 1, basePort: 0, profile: 'instant' });
  let gateway: RunningGateway | undefined;
  try {
    for (const port of [10080, 6665, 6666, 6667, 6668, 6669, 6697, 6000, 5060, 5061, 4190, 4045]) {
      try {
        gateway = await startGateway({ port, config: loadConfig({ preset: 'kvgate' }), endpoints: fleet.replicas.map((r) => parseEndpoint(r.url)) });
        break;
      } catch {
        /* in use: the next one */
      }
    }
    if (gateway) {
      const r = await runKvgate(['top', '--url', gateway.url, '--once'], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(plain(r.stdout), /kvgate top — pool kvgate/);
    }
  } finally {
    await gateway?.close();
    await fleet.close();
  }
  if (await refused(1)) {
    const one = await runKvgate(['top', '--url', 'http://127.0.0.1:1', '--once']);
    assert.equal(one.code, 1);
    assert.match(one.stderr, /^kvgate: cannot reach http:\/\/127\.0\.0\.1:1\/dashboard\/events: connection refused$/m);
  }
  assert.ok(gateway, 'one of the bad ports was free to listen on');
});

test('sparkline scales to the window maximum and leaves gaps for missing points', () => {
  assert.equal(sparkline([0, 1, 2, 4, null, 8], 6), '▁▁▂▄ █');
  assert.equal(sparkline([0, 0], 10), '▁▁');
  assert.equal(sparkline([1, 2, 3, 4], 2), '▆█');
});

test('clock times run 00–23: the hour after midnight is 00, not 24 (ICU en-US with hour12: false)', () => {
  assert.equal(clockTime(new Date(2026, 11, 1, 0, 58, 47).getTime()), '00:58:47');
  assert.equal(clockTime(new Date(2026, 11, 1, 23, 5, 9).getTime()), '23:05:09');
});
