import { Command } from 'commander';
import { intArg, MAX_HOURS_PER_MONTH, numberArg } from '../parse.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerCost(program: Command): void {
  program
    .command('cost')
    .description('Turn an hourly price and measured throughput into $/hour, $/month, $/1M requests and $/1M output tokens')
    .option('--accelerator <name>', 'tpu-v6e | nvidia-h100 | nvidia-l4 (priced from data/prices.json)')
    .option('--nodes <n>', 'accelerator nodes', intArg('--nodes', 1), 1)
    .option('--pricing <tier>', 'on-demand | 1y | 3y', 'on-demand')
    .option('--cluster-fee', 'add the GKE cluster management fee', false)
    .option('--hourly <usd>', 'total $/hour instead of --accelerator', numberArg('--hourly', 0))
    .option('--scenario <name>', 'a priced scenario from the price file (repeat to compare), e.g. seed-pattern1', collect)
    .option('--throughput <rps>', 'sustained requests per second (not with --from-bench)', numberArg('--throughput', 0))
    .option('--from-bench <report.json>', 'take throughput (and output tokens) from a kvgate bench report')
    .option('--output-tokens-per-request <n>', 'mean output tokens per request (with --from-bench only when the report has none)', numberArg('--output-tokens-per-request', 0))
    .option('--hours-per-month <h>', 'hours billed per month: at most 744 (31 days)', numberArg('--hours-per-month', 1, MAX_HOURS_PER_MONTH), 720)
    .option('--prices <file>', 'price file (default: data/prices.json)')
    .option('--json', 'print the figures as JSON', false)
    .action(async (o, cmd: Command) => {
      const { loadPrices, hourlyFor } = await import('../../cost/prices.js');
      const { computeCost, formatUsd } = await import('../../cost/cost-model.js');
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      const { readFileSync } = await import('node:fs');
      // An empty value (an unset variable) names its flag rather than reading as "not given".
      for (const [key, flag] of [['accelerator', '--accelerator'], ['prices', '--prices']] as const) {
        if (o[key] !== undefined && String(o[key]).trim() === '') throw new KvgateError(ErrorCode.InvalidConfig, `${flag} is empty (an unset variable?): give a value, or leave ${flag} out`, { param: flag });
      }
      // --nodes, --pricing and --cluster-fee price an --accelerator: --hourly is already the total,
      // and a --scenario has its own price, so beside either alone they would change nothing.
      const pricing = ['nodes', 'pricing', 'clusterFee'].filter((k) => cmd.getOptionValueSource(k) === 'cli');
      if (pricing.length > 0 && (o.hourly !== undefined || !o.accelerator)) {
        const flags = pricing.map((k) => `--${k === 'clusterFee' ? 'cluster-fee' : k}`).join(', ');
        if (o.hourly !== undefined) throw new KvgateError(ErrorCode.InvalidConfig, `${flags} price an --accelerator from the price file; --hourly is already the total $/hour: drop one or the other`, { param: 'hourly' });
        throw new KvgateError(ErrorCode.InvalidConfig, `${flags} price an --accelerator from the price file, and none is given (a --scenario has its own price): add --accelerator, or drop ${pricing.length > 1 ? 'them' : 'it'}`, { param: pricing[0] });
      }
      const book = loadPrices(o.prices);
      let throughput: number | undefined = o.throughput;
      let tokens: number | undefined = o.outputTokensPerRequest;
      if (o.fromBench) {
        // The report's req/s and its output tokens were measured together: mixing one of them
        // with a figure from the command line prices a run that never happened.
        if (o.throughput !== undefined) throw new KvgateError(ErrorCode.InvalidConfig, `--throughput and --from-bench both give the throughput: the report's req/s and output tokens belong together; drop one or the other`, { param: '--throughput' });
        let report: { throughput_rps?: unknown; output_tokens_mean?: unknown; summary?: { throughput_rps?: unknown; output_tokens_mean?: unknown } };
        try {
          report = JSON.parse(readFileSync(o.fromBench, 'utf8'));
        } catch (err) {
          throw new KvgateError(ErrorCode.InvalidConfig, `--from-bench ${o.fromBench}: ${(err as Error).message}`);
        }
        // JSON that is no object (null, a list, a number) is not a report: say so rather than a TypeError.
        if (report === null || typeof report !== 'object' || Array.isArray(report)) {
          throw new KvgateError(ErrorCode.InvalidConfig, `--from-bench ${o.fromBench}: not a kvgate bench report (a JSON object with throughput_rps)`, { param: '--from-bench' });
        }
        const s = report.summary ?? report;
        if (typeof s.throughput_rps !== 'number') throw new KvgateError(ErrorCode.InvalidConfig, `--from-bench ${o.fromBench}: no numeric throughput_rps`);
        throughput = s.throughput_rps;
        if (typeof s.output_tokens_mean === 'number') {
          if (tokens !== undefined) throw new KvgateError(ErrorCode.InvalidConfig, `--output-tokens-per-request and --from-bench both give the output tokens (${o.fromBench} measured ${s.output_tokens_mean} a request): drop one or the other`, { param: '--output-tokens-per-request' });
          tokens = s.output_tokens_mean;
        }
      }
      const rows = [];
      for (const name of o.scenario ?? []) {
        const sc = book.scenarios[name];
        if (!sc) throw new KvgateError(ErrorCode.InvalidConfig, `unknown --scenario "${name}" (known: ${Object.keys(book.scenarios).join(', ')})`);
        rows.push({ ...computeCost({ name, hourly: sc.hourly, hoursPerMonth: o.hoursPerMonth, throughputRps: throughput ?? sc.throughputRps, outputTokensPerRequest: tokens }), detail: sc.description });
      }
      if (o.hourly !== undefined || o.accelerator) {
        const h = o.hourly !== undefined ? { hourly: o.hourly as number, detail: 'given --hourly' } : hourlyFor(book, o.accelerator, o.nodes, o.pricing, o.clusterFee);
        // Named by what priced it: "deployment" (the column's own title) said nothing.
        const name = o.hourly === undefined ? o.accelerator : `${o.accelerator ? `${o.accelerator} at ` : ''}${formatUsd(o.hourly)}/h`;
        rows.push({ ...computeCost({ name, hourly: h.hourly, hoursPerMonth: o.hoursPerMonth, throughputRps: throughput, outputTokensPerRequest: tokens }), detail: h.detail });
      }
      if (rows.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, 'give --accelerator, --hourly or --scenario');
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ prices_updated: book.updated, hours_per_month: o.hoursPerMonth, rows: rows.map((r) => ({ name: r.name, hourly_usd: r.hourly, monthly_usd: r.monthly, per_million_requests_usd: r.perMillionRequests ?? null, per_million_output_tokens_usd: r.perMillionOutputTokens ?? null, throughput_rps: r.throughputRps ?? null, detail: r.detail })) })}\n`);
        return;
      }
      const table = [['deployment', '$/hour', '$/month', '$/1M requests', '$/1M output tokens', 'req/s'], ...rows.map((r) => [r.name, formatUsd(r.hourly), formatUsd(r.monthly), formatUsd(r.perMillionRequests), formatUsd(r.perMillionOutputTokens), r.throughputRps === undefined ? '—' : formatRps(r.throughputRps)])];
      const w = table[0].map((_, c) => Math.max(...table.map((t) => t[c].length)));
      for (const [i, t] of table.entries()) {
        process.stdout.write(`${t.map((v, c) => v.padEnd(w[c])).join('  ')}\n`);
        if (i === 0) process.stdout.write(`${w.map((n) => '-'.repeat(n)).join('  ')}\n`);
      }
      if (rows.length >= 2) {
        const [a, b] = [rows[0], rows[rows.length - 1]];
        const d = b.monthly - a.monthly;
        process.stdout.write(`\n${b.name} vs ${a.name}: ${d >= 0 ? '+' : '-'}${formatUsd(Math.abs(d))}/month (${d >= 0 ? '+' : ''}${((d / a.monthly) * 100).toFixed(0)} %)\n`);
      }
      for (const r of rows) process.stdout.write(`  ${r.name}: ${r.detail}\n`);
      process.stdout.write(`prices from ${o.prices ?? 'data/prices.json'}, updated ${book.updated}; ${o.hoursPerMonth} hours a month\n`);
    });
}

/** req/s for people: 33.06197369436186 → "33.06", 1234.5678 → "1,234.6" (JSON keeps the full value). */
function formatRps(rps: number): string {
  return rps >= 100 ? rps.toLocaleString('en-US', { maximumFractionDigits: 1 }) : String(Number(rps.toPrecision(4)));
}
