// Headless Chromium opens /dashboard on a `kvgate up` fleet under load, waits for live updates, and
// checks the replica table, the cards and the charts against what /metrics shows. Screenshots go to
// $KVGATE_TEST_OUTPUT/observability (default: <tmp>/kvgate-test-output/observability).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { parsePromText, type Sample } from '../helpers/prom-text.js';
import { waitFor } from '../gateway/helpers.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const OUT = join(process.env.KVGATE_TEST_OUTPUT ?? join(tmpdir(), 'kvgate-test-output'), 'observability');

async function metrics(url: string): Promise<Sample[]> {
  return parsePromText(await (await fetch(`${url}/metrics`)).text()).samples;
}
const total = (s: Sample[], name: string, labels: Record<string, string> = {}) => s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);

/** The few DOM members used in page callbacks (the tests compile without the DOM lib). */
interface DomEl {
  getAttribute(name: string): string | null;
  querySelectorAll(sel: string): Iterable<DomEl>;
}

interface Page {
  kvgateDashboard: PageState;
  document: { documentElement: { scrollWidth: number } };
}

interface PageState {
  updates: number;
  snapshot?: { completions: { total: number }; latency: { ttftMs: { count: number } }; replicas: { id: string; inFlight: number }[] };
  charts: Record<string, { labels: string[]; data: (number | null)[][] }>;
}

test('dashboard in headless Chromium: live updates; replica table, cards and charts agree with /metrics; phone layout fits', async () => {
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const fleet = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'qwen2.5-3b-tpu-v6e', '--json']);
  const { chromium } = await import('playwright-core');
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  let loading = true;
  let load: Promise<number> = Promise.resolve(0);
  try {
    const { gateway_url: gw, replicas } = JSON.parse(await waitForOutput(fleet, /\{"gateway_url".*\}/, 30_000)) as { gateway_url: string; replicas: string[] };
    const ids = replicas.map((u) => new URL(u).host);
    const client = new OpenAI({ baseURL: `${gw}/v1`, apiKey: 'unused', maxRetries: 0 });
    const system = (g: number) => `System prompt ${g}: a travel agent that knows every train in Europe. `.repeat(20);
    // Bounded load: 6 concurrent clients, shared prefixes (prefix hits) and some fresh prompts (load decisions).
    load = (async () => {
      let sent = 0;
      await Promise.all(
        [0, 1, 2, 3, 4, 5].map(async (w) => {
          for (let i = 0; loading && i < 400; i++) {
            const prompt = i % 4 === 3 ? `Fresh ${w}-${i} ${Math.random()}` : `${system((w + i) % 3)} Trip ${w}-${i}?`;
            // Streamed, so the gateway sees the first token apart from the last (TTFT, TPOT).
            const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
            for await (const _chunk of stream) void _chunk;
            sent++;
          }
        }),
      );
      return sent;
    })();

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    const external: string[] = [];
    page.on('request', (r) => !r.url().startsWith(gw) && !r.url().startsWith('data:') && external.push(r.url()));
    await page.goto(`${gw}/dashboard`);
    const state = () => page.evaluate(() => (globalThis as unknown as Page).kvgateDashboard);

    // Live: the page keeps receiving events while requests complete.
    await page.waitForFunction(() => ((globalThis as unknown as Page).kvgateDashboard.snapshot?.completions.total ?? 0) > 0, null, { timeout: 90_000 });
    const first = await state();
    await page.waitForFunction((n) => (globalThis as unknown as Page).kvgateDashboard.updates >= n + 3, first.updates, { timeout: 90_000 });
    const later = await state();
    assert.ok(later.snapshot!.completions.total > first.snapshot!.completions.total, 'completions grow between updates');
    assert.deepEqual(await page.locator('#replicas tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as DomEl).getAttribute('data-replica'))), ids);
    // Under load something is running or queued somewhere, and the load chart saw it.
    await waitFor(async () => {
      const s = await state();
      return s.charts['ch-load'].data.slice(1).some((series) => series.some((v) => (v ?? 0) > 0));
    }, 90_000, 200);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'dashboard-under-load.png') });

    loading = false;
    const sent = await load;
    assert.ok(sent >= 6, `sent ${sent}`);

    // Quiet now: the page must converge to exactly what /metrics says.
    const gwMetrics = await metrics(gw);
    const requests = total(gwMetrics, 'inference_objective_request_total');
    assert.equal(requests, sent);
    await waitFor(async () => {
      const s = await state();
      return s.snapshot!.completions.total === requests && s.snapshot!.replicas.every((r) => r.inFlight === 0);
    }, 90_000, 200);
    const cellsOf = () =>
      page.locator('#replicas tbody tr').evaluateAll((rows) =>
        rows.map((r) => Object.fromEntries([...(r as unknown as DomEl).querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field'), td.getAttribute('data-value')]))),
      );
    const replicaMetrics = await Promise.all(replicas.map(metrics));
    await waitFor(async () => {
      const cells = await cellsOf();
      return ids.every((id, i) => {
        const c = cells[i];
        const m = replicaMetrics[i];
        return (
          Number(c.requests) === total(gwMetrics, 'kvgate_endpoint_picks_total', { endpoint: id }) &&
          Number(c.running) === total(m, 'vllm:num_requests_running') &&
          Number(c.waiting) === total(m, 'vllm:num_requests_waiting') &&
          Number(c.kvUsage) === total(m, 'vllm:kv_cache_usage_perc') &&
          Number(c.healthy) === 1
        );
      });
    }, 60_000, 200);
    const cells = await cellsOf();
    assert.equal(cells.reduce((a, c) => a + Number(c.requests), 0), requests);
    // Per-replica served requests equal the replicas' own success counters.
    ids.forEach((_, i) => assert.equal(Number(cells[i].requests), total(replicaMetrics[i], 'vllm:request_success_total'), ids[i]));

    // Cards: hit rate = Σ cached ÷ Σ prompt tokens as the gateway's histograms sum them.
    const hit = total(gwMetrics, 'inference_objective_prompt_cached_tokens_sum') / total(gwMetrics, 'inference_objective_input_tokens_sum');
    assert.ok(hit > 0.3, `hit rate ${hit}`);
    assert.equal(await page.locator('#c-hit').textContent(), `${(hit * 100).toFixed(1)} %`);
    assert.equal(await page.locator('#c-err').textContent(), `0 / ${requests}`);
    const s = await state();
    assert.equal(s.snapshot!.latency.ttftMs.count, total(gwMetrics, 'inference_objective_request_duration_seconds_count'));

    // Charts: the decisions chart adds up to every request routed; one KV and one load line per replica.
    await waitFor(async () => {
      const d = (await state()).charts['ch-decisions'].data;
      return d.slice(1).reduce((a, series) => a + series.reduce((b: number, v) => b + (v ?? 0), 0), 0) === requests;
    }, 10_000, 200);
    const charts = (await state()).charts;
    assert.deepEqual(charts['ch-decisions'].labels, ['prefix-hit', 'load', 'fallback', 'shed']);
    assert.ok(charts['ch-decisions'].data[1].some((v) => (v ?? 0) > 0), 'prefix hits charted');
    assert.deepEqual(charts['ch-kv'].labels, ids);
    assert.deepEqual(charts['ch-load'].labels, ids);
    assert.ok(charts['ch-latency'].data[1].some((v) => v !== null && v > 0), 'TTFT p50 charted');
    assert.equal(await page.locator('.chart canvas').count(), 4);
    assert.ok((await page.locator('#recent tbody tr').count()) > 0);
    assert.match((await page.locator('#recent tbody tr').first().textContent())!, /(prefix-hit|load)200/);
    await page.screenshot({ path: join(OUT, 'dashboard.png') });

    // Phone: nothing wider than the screen but the tables' own scroll boxes.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300); // the charts resize after a 100 ms debounce
    const overflow = await page.evaluate(() => (globalThis as unknown as Page).document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `page is ${overflow}px wide on a 390px screen`);
    await page.screenshot({ path: join(OUT, 'dashboard-phone.png'), fullPage: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(external, [], 'no request leaves the gateway');
  } finally {
    loading = false;
    await load.catch(() => 0);
    await browser?.close();
    fleet.kill('SIGTERM');
  }
});

/** The uPlot members the axis test reads (`_values`/`_splits`: what the x axis drew, uPlot 1.6 internals). */
interface AxisPlot {
  width: number;
  bbox: { left: number };
  valToPos(v: number, scale: string): number;
  axes: { _values: string[] | null; _splits: number[] | null; font: string | [string, number, number] }[];
}

test('dashboard charts in headless Chromium: x ticks are one-line clock times that neither overlap nor leave the chart; the date is in the header', async () => {
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const fleet = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--replicas', '1', '--json']);
  const { chromium } = await import('playwright-core');
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    const { gateway_url: gw } = JSON.parse(await waitForOutput(fleet, /\{"gateway_url".*\}/, 30_000)) as { gateway_url: string };
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    // Narrow first: the old labels ran into each other there ("12/1/26 6:22:6:23am").
    for (const width of [390, 1366]) {
      const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
      await page.goto(`${gw}/dashboard`);
      // Enough history for two ticks on every chart.
      await page.waitForFunction(() => {
        const charts = (globalThis as unknown as { kvgateDashboard: { charts: Record<string, { plot?: AxisPlot }> } }).kvgateDashboard.charts;
        const ids = Object.keys(charts);
        return ids.length === 4 && ids.every((id) => (charts[id].plot?.axes[0]._values?.length ?? 0) >= 2);
      }, null, { timeout: 90_000 });
      const axes = await page.evaluate(() => {
        const g = globalThis as unknown as { kvgateDashboard: { charts: Record<string, { plot?: AxisPlot }> }; document: { createElement(t: 'canvas'): { getContext(c: '2d'): { font: string; measureText(t: string): { width: number } } } } };
        const ctx = g.document.createElement('canvas').getContext('2d');
        return Object.entries(g.kvgateDashboard.charts).map(([id, { plot }]) => {
          const u = plot!;
          const ax = u.axes[0];
          ctx.font = Array.isArray(ax.font) ? ax.font[0] : ax.font;
          const labels = ax._values!;
          const boxes = ax._splits!.map((v, i) => {
            const x = u.bbox.left + u.valToPos(v, 'x');
            const w = ctx.measureText(labels[i]).width;
            return { left: x - w / 2, right: x + w / 2 };
          });
          return { id, labels, boxes, width: u.width };
        });
      });
      for (const a of axes) {
        for (const l of a.labels) assert.match(l, /^\d{2}:\d{2}(:\d{2})?$/, `${a.id} at ${width}px: tick "${l}" is a one-line clock time`);
        // No two ticks with one label: with a few seconds of history a wide chart had half-second ticks ("10:33:26, 10:33:26, …").
        assert.equal(new Set(a.labels).size, a.labels.length, `${a.id} at ${width}px: ticks ${a.labels.join(', ')} are distinct`);
        a.boxes.forEach((b, i) => {
          assert.ok(b.left >= 0 && b.right <= a.width, `${a.id} at ${width}px: "${a.labels[i]}" inside the chart (${b.left.toFixed(1)}–${b.right.toFixed(1)} of ${a.width})`);
          if (i > 0) assert.ok(b.left > a.boxes[i - 1].right, `${a.id} at ${width}px: "${a.labels[i - 1]}" and "${a.labels[i]}" overlap`);
        });
      }
      assert.match((await page.locator('#live').textContent())!, /^live · \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      mkdirSync(OUT, { recursive: true });
      await page.locator('#ch-decisions').screenshot({ path: join(OUT, `dashboard-axis-${width}.png`) });
      await page.close();
    }
  } finally {
    await browser?.close();
    fleet.kill('SIGTERM');
  }
});

test('dashboard in headless Chromium: refused for too many viewers it retries and goes live; when the fleet stops it says since when its figures are, dimmed', async () => {
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const fleet = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--replicas', '1', '--json']);
  const exited = new Promise<void>((resolve) => fleet.once('exit', () => resolve()));
  const { chromium } = await import('playwright-core');
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  const viewers: AbortController[] = [];
  try {
    const { gateway_url: gw } = JSON.parse(await waitForOutput(fleet, /\{"gateway_url".*\}/, 30_000)) as { gateway_url: string };
    // Take every one of the 32 viewer slots, so the page's stream is refused (503, Retry-After: 5).
    for (let i = 0; i < 32; i++) {
      const ac = new AbortController();
      const res = await fetch(`${gw}/dashboard/events`, { signal: ac.signal });
      assert.equal(res.status, 200);
      viewers.push(ac);
    }
    const refused = await fetch(`${gw}/dashboard/events`);
    assert.equal(refused.status, 503, 'all viewer slots taken');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const refusals: number[] = [];
    page.on('response', (r) => r.url().endsWith('/dashboard/events') && r.status() === 503 && refusals.push(r.status()));
    await page.goto(`${gw}/dashboard`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('live').textContent === 'reconnecting…', null, { timeout: 20_000 });
    assert.ok(refusals.length >= 1, 'the page was refused a viewer slot');
    // A slot frees: the browser gave up on the 503 (EventSource closes on an HTTP error), so the page must open a new stream itself.
    viewers.pop()!.abort();
    await page.waitForFunction(() => (globalThis as unknown as Page).kvgateDashboard.updates >= 2, null, { timeout: 30_000 });
    for (const ac of viewers.splice(0)) ac.abort();
    assert.match((await page.locator('#live').textContent())!, /^live · /);

    // The fleet stops: the last figures stay, dimmed, with the time they are from.
    fleet.kill('SIGTERM');
    await exited;
    await page.waitForFunction(() => (globalThis as unknown as { document: { body: { classList: { contains(c: string): boolean } } } }).document.body.classList.contains('stale'), null, { timeout: 20_000 });
    const live = (await page.locator('#live').textContent())!;
    // The last snapshot the page received (it kept updating while the gateway drained).
    const lastAt = await page.evaluate(() => (globalThis as unknown as { kvgateDashboard: { snapshot: { atMs: number } } }).kvgateDashboard.snapshot.atMs);
    // The page's own clock and time zone (no helper function inside: tsx would wrap it in a __name the page lacks).
    const [date, time] = await page.evaluate((ms) => {
      const d = new Date(ms);
      const two = [d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0'));
      return [`${d.getFullYear()}-${two[0]}-${two[1]}`, `${two[2]}:${two[3]}:${two[4]}`];
    }, lastAt);
    assert.equal(live, `reconnecting… · figures from ${date} ${time}`);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'dashboard-stopped.png') });
  } finally {
    for (const ac of viewers) ac.abort();
    await browser?.close();
    fleet.kill('SIGTERM');
  }
});

test('dashboard in headless Chromium: a pool with no endpoints says so in the replica table (it showed a bare header)', async () => {
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-dash-empty-'));
  const file = join(dir, 'endpoints.json');
  writeFileSync(file, '[]\n');
  const gw = spawnKvgate(['serve', '--endpoints-file', file, '--port', '0']);
  const { chromium } = await import('playwright-core');
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(await waitForOutput(gw, /listening on http:\/\/127\.0\.0\.1:\d+/, 30_000))![0];
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
    await page.goto(`${url}/dashboard`);
    await page.waitForFunction(() => (globalThis as unknown as Page).kvgateDashboard.updates >= 1, null, { timeout: 20_000 });
    assert.equal(await page.locator('#replicas tbody tr').count(), 1);
    assert.match((await page.locator('#replicas tbody').textContent())!, /^no replicas: the pool has no endpoints/);
  } finally {
    await browser?.close();
    gw.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
