import { Command } from 'commander';
import { intArg, numberArg, durationArg } from '../parse.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Run the deployment verification table (health, models, completion, load distribution, cache routing, throughput) against any OpenAI endpoint')
    .requiredOption('--url <base>', 'base URL, e.g. http://127.0.0.1:8080 or http://GATEWAY/ns/svc')
    .option('--model <name>', 'model to use (default: the first of /v1/models)')
    .option('--api-key <key>', 'bearer key for the endpoint')
    .option('--cache-speedup-threshold <pct>', 'minimum warm-vs-cold speedup for Cache Routing to pass', numberArg('--cache-speedup-threshold', 0, 100), 30)
    .option('--parallel <n>', 'concurrent requests in the throughput test', intArg('--parallel', 1), 10)
    .option('--requests <n>', 'requests in the throughput test', intArg('--requests', 1), 20)
    .option('--max-tokens <n>', 'max_tokens of test completions', intArg('--max-tokens', 1), 10)
    .option('--timeout <d>', 'per-request timeout', durationArg('--timeout'), 60_000)
    .option('--json', 'print the rows as JSON', false)
    .action(async (o) => {
      const { Verifier } = await import('../../verify/checks.js');
      const url = String(o.url).replace(/\/+$/, '');
      if (!/^https?:\/\//.test(url)) {
        const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
        throw new KvgateError(ErrorCode.InvalidConfig, `--url must start with http:// or https:// (got "${o.url}")`);
      }
      const rows = await new Verifier({
        url,
        model: o.model,
        apiKey: o.apiKey,
        timeoutMs: o.timeout,
        cacheSpeedupThresholdPct: o.cacheSpeedupThreshold,
        parallel: o.parallel,
        requests: o.requests,
        maxTokens: o.maxTokens,
      }).run();
      const ok = rows.every((r) => r.status !== 'FAIL');
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ url, passed: ok, rows })}\n`);
      } else {
        const table = [['Test', 'Status', 'Result'], ...rows.map((r) => [r.test, r.status, r.result])];
        const w = [0, 1].map((c) => Math.max(...table.map((t) => t[c].length)));
        process.stdout.write(`kvgate verify ${url}\n\n`);
        for (const [i, t] of table.entries()) {
          process.stdout.write(`| ${t[0].padEnd(w[0])} | ${t[1].padEnd(w[1])} | ${t[2]}\n`);
          if (i === 0) process.stdout.write(`|${'-'.repeat(w[0] + 2)}|${'-'.repeat(w[1] + 2)}|--------\n`);
        }
        const failed = rows.filter((r) => r.diagnosis && r.status !== 'PASS');
        if (failed.length) {
          process.stdout.write('\n');
          for (const r of failed) process.stdout.write(`${r.status} ${r.test}: ${r.diagnosis}\n`);
        }
        process.stdout.write(`\n${ok ? 'all required checks passed' : 'verification FAILED'}\n`);
      }
      if (!ok) process.exitCode = 1;
    });
}
