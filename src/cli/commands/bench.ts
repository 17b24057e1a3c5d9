import { Command, Option } from 'commander';
import { intArg, numRequestsArg, numberArg, durationOption, formatDuration, DURATION_HELP, refuseConcurrencyWithOpenLoop, refuseOverridden, seedArg } from '../parse.js';
import { SEED_RANGE } from '../../shared/seed.js';
import { WORKLOADS } from '../../bench/workloads.js';
import { addWorkloadShapeOptions, checkReadableFiles, checkWritableFiles, numRequestsDefaults, refuseUnusedWorkloadFlags } from '../options.js';
import { MAX_RATE_RPS, MIN_RATE_RPS, STAGE_BOUNDS, parseSlo, parseStages, rateOverLimit, refuseOverlongLoad, stagesArg } from '../../bench/specs.js';
import { parseBaseUrl } from '../base-url.js';

/**
 * Flags that decide what others would: a trace brings its own requests and arrival times; --stages,
 * --sweep and --rate are three ways to give the open-loop load (first wins in that order); a
 * dataset (or the one --prompt) is the workload; --serial and --parallel are closed loops.
 */
const BENCH_OVERRIDES = [
  ['trace', ['stages', 'sweep', 'rate', 'dataset', 'workload', 'prompt', 'serial', 'parallel']],
  ['stages', ['sweep', 'rate', 'serial', 'parallel']],
  ['sweep', ['rate', 'serial', 'parallel']],
  ['rate', ['serial', 'parallel']],
  ['dataset', ['workload']],
  ['prompt', ['workload']],
] as const;

export function registerBench(program: Command): void {
  const bench = addWorkloadShapeOptions(
    program
    .command('bench')
    .enablePositionalOptions() // `bench compare … --html` belongs to compare
    .description('Benchmark any OpenAI endpoint: TTFT, TPOT, ITL, E2E, throughput, goodput, cache hits, per-endpoint load')
    .option('--url <base>', 'base URL of the OpenAI server, e.g. http://127.0.0.1:8080 (its root: bench adds /v1/...)')
    .addOption(new Option('--workload <name>', 'request mix').choices([...WORKLOADS]).default('shared-prefix'))
    .option('--dataset <file.jsonl>', 'requests from a JSONL file ({"prompt"} or {"messages"} per line)')
    .option('--trace <file.jsonl>', 'replay a Mooncake-format trace (timestamp, input_length, output_length, hash_ids of 512-token blocks); block text synthesised from its id')
    .option('--time-scale <x>', 'trace replay: multiply timestamps by x (0.5 = twice as fast)', numberArg('--time-scale', 1e-6), 1)
    .addOption(durationOption('--trace-window', 'trace replay: report one stage per window of replay time', 60_000, { positive: true })),
    { prompt: true },
  )
    .option('--num-requests <n>', `requests of a closed-loop run (cycling through the workload), the size of a prefix-repetition, random or decode-heavy workload, or the first N of a --trace; at most 1,000,000 ${numRequestsDefaults({ prompt: true })}`, numRequestsArg('--num-requests'))
    .option('--requests <n>', "alias of --num-requests (the seed script's name)", numRequestsArg('--requests'))
    .option('--concurrency <n>', 'closed loop with N concurrent requests (not with --rate, --stages, --sweep or --trace: those are open loop)', intArg('--concurrency', 1), 10)
    .option('--concurrent <n>', "alias of --concurrency (the seed script's name)", intArg('--concurrent', 1))
    .option('--prompt <text>', "send this one prompt every time (the seed script's --prompt; default 20 requests)")
    .option('--rate <rps>', `open loop: Poisson arrivals at this rate, requests/s; at least ${MIN_RATE_RPS}, at most ${MAX_RATE_RPS.toLocaleString('en-US')} (default: none, a closed loop)`, numberArg('--rate', MIN_RATE_RPS, MAX_RATE_RPS))
    .addOption(durationOption('--duration', 'length of a --rate run or of each --sweep stage', 30_000, { positive: true }))
    .option('--stages <list>', `rate:seconds,… stages of Poisson load (${STAGE_BOUNDS}), e.g. 3:60,10:30`, stagesArg)
    .option('--sweep <rates>', `comma-separated rates in requests/s (each ${MIN_RATE_RPS} to ${MAX_RATE_RPS.toLocaleString('en-US')}), each run for --duration, e.g. 1,2,4`)
    .option('--serial', 'the seed\'s serial test: one request at a time, 20 requests', false)
    .option('--parallel', 'the seed\'s parallel test: 20 requests, 10 concurrent', false)
    .option('--slo <spec>', 'goodput SLO, as simulate takes it: ttft, tpot, e2e limits per request, e.g. ttft=500,tpot=50 (a bare number is ms) or ttft=1s; ttft_p90=2s counts as ttft=2s')
    .option('--model <name>', 'model (default: first of /v1/models)')
    .option('--api-key <key>', 'bearer key')
    .option('--label <text>', 'name of this run in reports (default: what ran: the workload, trace FILE, dataset FILE or prompt)')
    .option('--seed <n>', `workload and arrival seed, ${SEED_RANGE}`, seedArg('--seed'), 1)
    .addOption(durationOption('--timeout', 'per-request timeout (headers, then between body bytes); 0 = none', 300_000))
    .option('--out <report.json>', 'write the JSON report')
    .option('--html <report.html>', 'write a self-contained HTML report')
    .option('--json', 'print the report summary as JSON', false)
    .addHelpText('after', DURATION_HELP)
    .action(async (o, cmd: Command) => {
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      for (const [seed, key, flag] of [['requests', 'numRequests', '--num-requests'], ['concurrent', 'concurrency', '--concurrency']] as const) {
        if (o[seed] === undefined) continue;
        if (cmd.getOptionValueSource(key) === 'cli' && o[key] !== o[seed]) throw new KvgateError(ErrorCode.InvalidConfig, `--${seed} is ${flag} (the seed script's name): give one of them`);
        o[key] = o[seed];
      }
      refuseConcurrencyWithOpenLoop(o, (k) => cmd.getOptionValueSource(k));
      refuseOverridden((k) => cmd.getOptionValueSource(k) === 'cli', BENCH_OVERRIDES);
      refuseUnusedWorkloadFlags((k) => cmd.getOptionValueSource(k) === 'cli', o);
      if (o.prompt !== undefined && (String(o.prompt).trim() === '' || o.dataset)) throw new KvgateError(ErrorCode.InvalidConfig, o.dataset ? 'give --prompt or --dataset, not both' : '--prompt must not be empty');
      if (!o.url) throw new KvgateError(ErrorCode.InvalidConfig, '--url is required');
      const url = parseBaseUrl(String(o.url));
      let stages;
      let concurrency = o.concurrency;
      let numRequests = o.numRequests;
      if (o.stages) stages = parseStages(o.stages); // the same parser as simulate's; its errors name --stages
      else if (o.sweep) {
        stages = String(o.sweep).split(',').map((r: string) => {
          // Number('') is 0 and Number(' 2 ') is 2: test the text, not only the number.
          if (!/^\s*(\d+(?:\.\d+)?|\.\d+)\s*$/.test(r) || !(Number(r) > 0)) throw new KvgateError(ErrorCode.InvalidConfig, `--sweep rates must be positive numbers, e.g. 1,2,4 (got "${r}")`, { param: 'sweep' });
          if (Number(r) < MIN_RATE_RPS) throw new KvgateError(ErrorCode.InvalidConfig, `--sweep: a rate of ${Number(r)} requests/s is less than the ${MIN_RATE_RPS} requests/s a stage takes (it would send no request)`, { param: 'sweep' });
          const tooHigh = rateOverLimit(Number(r), '--sweep');
          if (tooHigh) throw tooHigh;
          return { rate: Number(r), durationS: o.duration / 1000 };
        });
      } else if (o.rate) stages = [{ rate: o.rate, durationS: o.duration / 1000 }];
      else stages = [{}];
      // As kvgate simulate: an open loop past the requests one run holds is refused before it starts.
      if (stages[0].rate !== undefined) refuseOverlongLoad(stages as { rate: number; durationS: number }[], o.stages ? '--stages' : o.sweep ? '--sweep × --duration' : '--rate × --duration');
      if (o.serial && o.parallel) throw new KvgateError(ErrorCode.InvalidConfig, 'give --serial or --parallel, not both (the seed\'s two tests are two runs)');
      if (o.serial) [concurrency, numRequests] = [1, numRequests ?? 20];
      if (o.parallel) [concurrency, numRequests] = [10, numRequests ?? 20];
      // simulate's parser: a percentile target (ttft_p90=2s) is the per-request limit goodput counts against.
      const slo = o.slo ? parseSlo(o.slo).request : undefined;
      await checkWritableFiles({ '--out': o.out, '--html': o.html }); // before the run, not after it
      let promptDataset: string | undefined;
      if (o.prompt !== undefined) {
        // The seed's script repeats one prompt: a one-prompt dataset, written where the bench reads datasets from.
        const { mkdtempSync, writeFileSync } = await import('node:fs');
        const { tmpdir } = await import('node:os');
        const { join } = await import('node:path');
        promptDataset = join(mkdtempSync(join(tmpdir(), 'kvgate-bench-prompt-')), 'prompt.jsonl');
        writeFileSync(promptDataset, `${JSON.stringify({ prompt: o.prompt, max_tokens: o.outputLen ?? 64 })}\n`.repeat(numRequests ?? 20));
        numRequests ??= 20;
      }
      const { runBench, formatTable } = await import('../../bench/run-bench.js');
      const { formatErrorMessages } = await import('../../bench/error-messages.js');
      const ac = new AbortController();
      const onSig = () => {
        process.stderr.write('\ninterrupted: finishing with a partial report\n');
        ac.abort();
      };
      process.once('SIGINT', onSig);
      process.once('SIGTERM', onSig);
      let bar: { update(n: number): void; stop(): void; start(total: number, n: number): void } | undefined;
      let lastLine = 0;
      const tty = process.stderr.isTTY;
      try {
        const report = await runBench({
          url,
          model: o.model,
          apiKey: o.apiKey,
          // --prompt runs a one-prompt dataset from a temporary file: name the run by what was asked.
          label: o.label ?? (o.prompt !== undefined ? 'prompt' : undefined),
          workload: {
            workload: o.dataset || promptDataset ? 'dataset' : o.workload,
            dataset: o.dataset ?? promptDataset,
            seed: o.seed,
            numRequests: numRequests,
            numGroups: o.numGroups,
            promptsPerGroup: o.promptsPerGroup,
            systemPromptLen: o.systemPromptLen,
            questionLen: o.questionLen,
            outputLen: o.outputLen,
            multiTurn: o.multiTurn,
            prefixLen: o.prefixLen,
            suffixLen: o.suffixLen,
            numPrefixes: o.numPrefixes,
            inputLen: o.inputLen,
            numConversations: o.numConversations,
            turns: o.turns,
          },
          trace: o.trace ? { path: o.trace, timeScale: o.timeScale, windowS: o.traceWindow / 1000, numRequests } : undefined,
          concurrency,
          stages,
          numRequests,
          timeoutMs: o.timeout,
          slo,
          out: o.out,
          html: o.html,
          signal: ac.signal,
          progress: async (done, total) => {
            if (tty && total) {
              if (!bar) {
                const { default: cliProgress } = await import('cli-progress');
                bar = new cliProgress.SingleBar({ format: 'bench [{bar}] {value}/{total} requests', stream: process.stderr }, cliProgress.Presets.shades_classic);
                bar.start(total, done);
              }
              bar.update(done);
            } else if (Date.now() - lastLine > 5000) {
              lastLine = Date.now();
              process.stderr.write(`bench: ${done}${total ? `/${total}` : ''} requests done\n`);
            }
          },
        });
        bar?.stop();
        if (report.summary.requests === 0 && !report.partial) {
          // Nothing was sent: say why instead of printing a table of dashes.
          const rated = (stages as { rate?: number; durationS?: number }[]).filter((s) => s.rate !== undefined);
          const expected = rated.reduce((a, s) => a + s.rate! * (s.durationS ?? 0), 0);
          throw new KvgateError(
            ErrorCode.InvalidConfig,
            rated.length
              ? `no request was sent: ${o.stages ? '--stages' : '--duration'} ${o.stages ? o.stages : formatDuration(o.duration)} at ${o.stages ? 'those rates' : `${o.rate ?? o.sweep} req/s`} expects ${expected < 10 ? +expected.toPrecision(2) : Math.round(expected)} arrivals: give a longer ${o.stages ? 'stage' : '--duration'} (e.g. 30s; a bare number is seconds) or a higher rate`
              : 'no request was sent: the workload is empty (check --num-requests and the workload flags)',
          );
        }
        const errorLines = formatErrorMessages(report.summary.error_messages, report.summary.errors);
        if (report.summary.ok === 0 && !report.partial) {
          const why = Object.entries(report.summary.errors_by_status).map(([k, n]) => `${n} × ${/^\d+$/.test(k) ? `HTTP ${k}` : k}`).join(', ');
          process.stderr.write(`kvgate: no request completed: all ${report.summary.requests} failed (${why})${errorLines.length ? ':' : ''}\n${errorLines.map((l) => `${l}\n`).join('')}`);
        } else if (errorLines.length) process.stderr.write(`bench: ${report.summary.errors} of ${report.summary.requests} requests failed:\n${errorLines.map((l) => `${l}\n`).join('')}`);
        if (o.json) process.stdout.write(`${JSON.stringify({ label: report.label, partial: report.partial, ...report.summary })}\n`);
        else {
          process.stdout.write(`${formatTable([report])}\n`);
          if (o.out) process.stdout.write(`report: ${o.out}\n`);
          if (o.html) process.stdout.write(`html: ${o.html}\n`);
          if (report.partial) process.stdout.write('partial run (interrupted)\n');
        }
        if (report.partial) process.exitCode = 130;
        else if (report.summary.ok === 0) process.exitCode = 1;
      } finally {
        bar?.stop();
        if (promptDataset) (await import('node:fs')).rmSync((await import('node:path')).dirname(promptDataset), { recursive: true, force: true });
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      }
    });

  bench
    .command('compare')
    .description('Show several bench reports side by side (e.g. round-robin vs cache-aware)')
    .argument('<reports...>', 'report.json files from kvgate bench --out')
    .option('--html <file>', 'write a side-by-side HTML report')
    .option('--json', 'print the summaries as JSON', false)
    .action(async (files: string[], o: { html?: string; json: boolean }) => {
      const { readFileSync, writeFileSync } = await import('node:fs');
      const { formatTable } = await import('../../bench/report.js');
      const { renderHtml } = await import('../../bench/html-report.js');
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      await checkWritableFiles({ '--html': o.html }); // as bench --html: before the table, naming the flag
      // A missing file or a directory in words ("no such file"), not Node's errno text.
      for (const f of files) await checkReadableFiles({ 'bench compare': f });
      const reports = files.map((f) => {
        try {
          const r = JSON.parse(readFileSync(f, 'utf8'));
          if (r.kvgate_bench !== 1) throw new Error('not a kvgate bench report');
          return r;
        } catch (err) {
          throw new KvgateError(ErrorCode.InvalidConfig, `${f}: ${(err as Error).message}`);
        }
      });
      if (o.json) process.stdout.write(`${JSON.stringify(reports.map((r) => ({ label: r.label, ...r.summary })))}\n`);
      else process.stdout.write(`${formatTable(reports)}\n`);
      if (o.html) writeFileSync(o.html, renderHtml(reports, `kvgate bench compare — ${reports.map((r) => r.label).join(' vs ')}`));
    });
}
