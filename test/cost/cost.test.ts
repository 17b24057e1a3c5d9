import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeCost, cents } from '../../src/cost/cost-model.js';
import { loadPrices, hourlyFor } from '../../src/cost/prices.js';
import { runKvgate } from '../helpers/cli.js';

test('reproduces the seed\'s cost sheet to the cent', () => {
  assert.equal(cents(computeCost({ name: 'p1', hourly: 5.5, hoursPerMonth: 720 }).monthly), 3960);
  assert.equal(cents(computeCost({ name: 'p3', hourly: 15.74, hoursPerMonth: 720, throughputRps: 21 }).perMillionRequests!), 208.2);
  assert.equal(cents(computeCost({ name: 'p1', hourly: 5.5, hoursPerMonth: 720, throughputRps: 7.5 }).perMillionRequests!), 203.7);
  // The seed's $11,336/month for Pattern 3 implies an unrounded $15.744/h.
  assert.equal(cents(computeCost({ name: 'p3', hourly: 15.744, hoursPerMonth: 720 }).monthly), 11335.68);
  assert.equal(Math.round(computeCost({ name: 'p3', hourly: 15.744, hoursPerMonth: 720 }).monthly), 11336);
});

test('$/1M output tokens divides by tokens per request', () => {
  const c = computeCost({ name: 'x', hourly: 36, hoursPerMonth: 720, throughputRps: 10, outputTokensPerRequest: 100 });
  assert.equal(cents(c.perMillionRequests!), 1000);
  assert.equal(cents(c.perMillionOutputTokens!), 10);
});

test('accelerator prices come from the dated price file', () => {
  const book = loadPrices();
  const three = hourlyFor(book, 'tpu-v6e', 3, 'on-demand', false);
  assert.equal(cents(three.hourly), 32.4); // 3 nodes × 4 chips × $2.70
  assert.equal(cents(hourlyFor(book, 'tpu-v6e', 1, '3y', true).hourly), 4.98);
  assert.throws(() => hourlyFor(book, 'tpu-v9', 1, 'on-demand', false), /unknown --accelerator "tpu-v9"/);
  assert.throws(() => hourlyFor(book, 'nvidia-l4', 1, '3y', false), /no "3y" price/);
  for (const item of book.items) assert.ok(item.source && item.date && item.region, item.id);
});

test('kvgate cost compares the seed\'s patterns as the seed did', async () => {
  const r = await runKvgate(['cost', '--scenario', 'seed-pattern1', '--scenario', 'seed-pattern3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const [p1, p3] = out.rows;
  assert.equal(cents(p1.monthly_usd), 3960);
  assert.equal(cents(p1.per_million_requests_usd), 203.7);
  assert.equal(cents(p3.per_million_requests_usd), 208.2);
  const table = await runKvgate(['cost', '--scenario', 'seed-pattern1', '--scenario', 'seed-pattern3']);
  assert.match(table.stdout, /\$3,960\.00/);
  assert.match(table.stdout, /\$208\.20/);
  assert.match(table.stdout, /seed-pattern3 vs seed-pattern1: \+\$7,372\.80\/month \(\+186 %\)/);
});

test('kvgate cost: bad input names the flag and exits 1', async () => {
  const none = await runKvgate(['cost']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /give --accelerator, --hourly or --scenario/);
  const neg = await runKvgate(['cost', '--hourly', '-3']);
  assert.equal(neg.code, 1);
  assert.match(neg.stderr, /--hourly/);
  const missing = await runKvgate(['cost', '--hourly', '5', '--from-bench', '/nonexistent.json']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--from-bench \/nonexistent\.json/);
  // A month bills at most 31 × 24 = 744 hours; 1000 was taken and multiplied into $/month.
  const month = await runKvgate(['cost', '--hourly', '5', '--hours-per-month', '1000']);
  assert.equal(month.code, 1);
  assert.match(month.stderr, /--hours-per-month must be a number in \[1, 744\] \(got "1000"\)/);
  const full = await runKvgate(['cost', '--hourly', '5', '--hours-per-month', '744', '--json']);
  assert.equal(full.code, 0, full.stderr);
});

test('cost --from-bench with JSON that is not an object names the file, not a TypeError; an unbounded number flag says ">= 0", not "[0, Infinity]"', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-cost-'));
  for (const text of ['null', '[1, 2]', '42']) {
    const file = join(dir, 'r.json');
    writeFileSync(file, text);
    const r = await runKvgate(['cost', '--hourly', '5', '--from-bench', file]);
    assert.equal(r.code, 1, text);
    assert.match(r.stderr, /^kvgate: --from-bench .*r\.json: not a kvgate bench report \(a JSON object with throughput_rps\)$/m, text);
    assert.doesNotMatch(r.stderr, /Cannot read properties/);
  }
  // "Infinity" was refused with "must be a number in [0, Infinity]": the range seemed to allow it.
  const inf = await runKvgate(['cost', '--hourly', 'Infinity']);
  assert.equal(inf.code, 1);
  assert.match(inf.stderr, /--hourly must be a finite number >= 0 \(got "Infinity"\)/);
});

test('cost --from-bench rounds req/s for people in the table and keeps the full value in --json', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cost-')), 'a.json');
  writeFileSync(file, JSON.stringify({ kvgate_bench: 1, summary: { throughput_rps: 33.06197369436186, output_tokens_mean: 20 } }));
  const table = await runKvgate(['cost', '--hourly', '5', '--from-bench', file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /\s33\.06\s*$/m);
  assert.doesNotMatch(table.stdout, /33\.061/);
  const json = await runKvgate(['cost', '--hourly', '5', '--from-bench', file, '--json']);
  assert.equal(JSON.parse(json.stdout).rows[0].throughput_rps, 33.06197369436186);
});

/** A copy of the shipped price book with `edit` applied, written to a temporary file. */
async function editedPrices(edit: (book: Record<string, any>) => void): Promise<string> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const book = JSON.parse(readFileSync(new URL('../../data/prices.json', import.meta.url), 'utf8'));
  edit(book);
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-prices-')), 'prices.json');
  writeFileSync(file, JSON.stringify(book));
  return file;
}

test('a price file whose accelerator names no item is refused at load, naming the field (was a TypeError when priced)', async () => {
  const file = await editedPrices((b) => (b.accelerators['tpu-v6e'].item = 'tpu-v9-chip'));
  assert.throws(() => loadPrices(file), /accelerators\.tpu-v6e\.item|accelerators\["tpu-v6e"\]\.item/);
  const r = await runKvgate(['cost', '--prices', file, '--accelerator', 'tpu-v6e']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /"tpu-v9-chip" is not the id of any entry in items/);
  assert.doesNotMatch(r.stderr, /Cannot read properties/);
});

test('--cluster-fee with a price file that has no gke-cluster item names the flag (was a TypeError)', async () => {
  const file = await editedPrices((b) => (b.items = b.items.filter((i: { id: string }) => i.id !== 'gke-cluster')));
  const r = await runKvgate(['cost', '--prices', file, '--accelerator', 'tpu-v6e', '--cluster-fee']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--cluster-fee: the price file has no "gke-cluster" item/);
});

test('the table names the price file it used (--prices), not always data/prices.json', async () => {
  const file = await editedPrices((b) => (b.updated = '2031-01-02'));
  const r = await runKvgate(['cost', '--prices', file, '--accelerator', 'tpu-v6e']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`prices from ${file}, updated 2031-01-02`), r.stdout);
  const d = await runKvgate(['cost', '--accelerator', 'tpu-v6e']);
  assert.match(d.stdout, /prices from data\/prices\.json, updated /);
});

test('--hourly is the total: --nodes, --pricing or --cluster-fee beside it is an error, not silently ignored', async () => {
  for (const extra of [['--nodes', '2'], ['--pricing', '1y'], ['--cluster-fee']]) {
    const r = await runKvgate(['cost', '--hourly', '3', ...extra]);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stdout}`);
    assert.ok(r.stderr.includes(`${extra[0]} price an --accelerator`), r.stderr);
  }
  const ok = await runKvgate(['cost', '--hourly', '3', '--accelerator', 'nvidia-l4', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).rows[0].hourly_usd, 3);
});

test('--nodes, --pricing or --cluster-fee with only a --scenario (no --accelerator to price) is an error, not ignored; an empty --accelerator or --prices names its flag', async () => {
  for (const extra of [['--nodes', '2'], ['--pricing', '3y'], ['--cluster-fee']]) {
    const r = await runKvgate(['cost', '--scenario', 'seed-pattern1', ...extra]);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`^kvgate: ${extra[0]} price an --accelerator from the price file, and none is given`, 'm'));
  }
  for (const flag of ['--accelerator', '--prices']) {
    const r = await runKvgate(['cost', '--hourly', '5', flag, '']);
    assert.equal(r.code, 1, flag);
    assert.match(r.stderr, new RegExp(`^kvgate: ${flag} is empty \\(an unset variable\\?\\)`, 'm'));
  }
  // With an --accelerator beside the scenario they price it, as before.
  const ok = await runKvgate(['cost', '--scenario', 'seed-pattern1', '--accelerator', 'tpu-v6e', '--nodes', '2', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(cents(JSON.parse(ok.stdout).rows[1].hourly_usd), 21.6);
});

test('cost --from-bench with --throughput (or with --output-tokens-per-request when the report has tokens) is an error naming both', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-cost-'));
  const full = join(dir, 'full.json');
  writeFileSync(full, JSON.stringify({ kvgate_bench: 1, summary: { throughput_rps: 3.2, output_tokens_mean: 100 } }));
  const rps = await runKvgate(['cost', '--accelerator', 'tpu-v6e', '--throughput', '5', '--from-bench', full]);
  assert.equal(rps.code, 1, rps.stdout);
  assert.match(rps.stderr, /^kvgate: --throughput and --from-bench both give the throughput/m);
  assert.equal(rps.stdout, '');
  const tokens = await runKvgate(['cost', '--accelerator', 'tpu-v6e', '--output-tokens-per-request', '7', '--from-bench', full]);
  assert.equal(tokens.code, 1, tokens.stdout);
  assert.match(tokens.stderr, /^kvgate: --output-tokens-per-request and --from-bench both give the output tokens \(.*full\.json measured 100 a request\)/m);
  // A report without output tokens takes them from the flag: $10.80/h ÷ (3.2 req/s × 10 tokens × 3600) × 10⁶.
  const bare = join(dir, 'bare.json');
  writeFileSync(bare, JSON.stringify({ kvgate_bench: 1, summary: { throughput_rps: 3.2 } }));
  const ok = await runKvgate(['cost', '--accelerator', 'tpu-v6e', '--output-tokens-per-request', '10', '--from-bench', bare, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const row = JSON.parse(ok.stdout).rows[0];
  assert.equal(row.throughput_rps, 3.2);
  assert.equal(cents(row.per_million_output_tokens_usd), 93.75);
});
