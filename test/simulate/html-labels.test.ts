// The HTML reports' SVG charts in headless Chromium: with long policy names, many policies and many
// replicas, no label overlaps another or leaves its chart (the legend used to be drawn inside the
// plot, right-aligned, so a long name ran over the lines and off the chart's left edge).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate, resolvePolicies, DEFAULT_PATH } from '../../src/simulate/simulate.js';
import { renderSimulateHtml } from '../../src/simulate/html.js';
import { barChart, lineChart, htmlPage, COLORS } from '../../src/bench/svg-chart.js';

interface Box {
  svg: number;
  text: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Every <text> of every <svg> on the page, as laid out: its box relative to its svg, and the svg's size. */
const LAYOUT = `(() => [...document.querySelectorAll('svg')].map((svg, i) => {
  const s = svg.getBoundingClientRect();
  return { w: s.width, h: s.height, texts: [...svg.querySelectorAll('text')].map((t) => {
    const r = t.getBoundingClientRect();
    return { svg: i, text: [...t.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join(''), x: r.x - s.x, y: r.y - s.y, w: r.width, h: r.height };
  }) };
}))()`;

const overlap = (a: Box, b: Box) => Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));

test('report charts in headless Chromium: long policy names, many policies and replicas — every label inside its chart, none overlapping', async () => {
  const long = ['random', 'round-robin', 'kvgate', 'gie-default'];
  const policies = resolvePolicies(long).map((p, i) => ({ ...p, name: `${p.name}-with-a-rather-long-descriptive-policy-name-${'x'.repeat(i * 12)}` }));
  const report = await simulate({
    fleet: [{ count: 24, profile: 'instant', kvCacheSize: 2000 }],
    policies,
    workload: { workload: 'random', seed: 2, numRequests: 60, inputLen: 60, outputLen: 3 },
    load: { kind: 'stages', stages: [{ rate: 200, durationS: 0.2 }, { rate: 800, durationS: 0.1 }] },
    seed: 2,
    path: DEFAULT_PATH,
  });
  // The shared chart code directly: 10 legend entries, 40 long category labels, wide tick values.
  const many = Array.from({ length: 10 }, (_, i) => ({ label: `series ${i} ${'long '.repeat(i)}`, color: COLORS[i % COLORS.length] }));
  const extra =
    lineChart({ title: 'ten series', xLabel: 'offered rate (req/s)', yLabel: 'output tokens/s', series: many.map((m, i) => ({ ...m, points: [[0, 0], [1000, 250_000 * (i + 1)]] as [number, number][] })) }) +
    barChart({ title: 'forty endpoints', xLabel: 'endpoint', yLabel: 'requests', categories: Array.from({ length: 40 }, (_, i) => `10.0.0.${i}:8000`), series: many.slice(0, 3).map((m) => ({ ...m, values: Array.from({ length: 40 }, (_, i) => i * 1000) })) });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-chart-labels-'));
  const file = join(dir, 'r.html');
  writeFileSync(file, renderSimulateHtml(report).replace('</div>\n<details>', `${extra}</div>\n<details>`));
  writeFileSync(join(dir, 'extra.html'), htmlPage('extra', extra));
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    const charts = (await page.evaluate(LAYOUT)) as { w: number; h: number; texts: Box[] }[];
    assert.equal(charts.length, 6);
    const problems: string[] = [];
    charts.forEach((c, i) => {
      for (const t of c.texts) {
        if (t.w === 0) continue;
        if (t.x < -0.5 || t.y < -0.5 || t.x + t.w > c.w + 0.5 || t.y + t.h > c.h + 0.5) problems.push(`chart ${i}: "${t.text}" leaves the chart (${Math.round(t.x)},${Math.round(t.y)} ${Math.round(t.w)}×${Math.round(t.h)} in ${c.w}×${c.h})`);
      }
      for (let a = 0; a < c.texts.length; a++) {
        for (let b = a + 1; b < c.texts.length; b++) {
          if (overlap(c.texts[a], c.texts[b]) > 1) problems.push(`chart ${i}: "${c.texts[a].text}" overlaps "${c.texts[b].text}"`);
        }
      }
    });
    assert.deepEqual(problems, []);
    // Every policy is in the legends, cut short or whole (the whole name is the tooltip).
    const legendTexts = charts[0].texts.map((t) => t.text);
    for (const p of policies) assert.ok(legendTexts.some((t) => p.name.startsWith(t.replace(/…$/, ''))), p.name);
    assert.ok(await page.locator('svg').nth(0).locator(`title:text-is("${policies[3].name}")`).count() >= 1, 'a cut label keeps its whole text as a tooltip');
  } finally {
    await browser.close();
  }
});
