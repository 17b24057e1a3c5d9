import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { intArg, MAX_HOURS_PER_MONTH, kvBlocksArg, numRequestsArg, replicasArg, numberArg, durationOption, listArg, DURATION_HELP, refuseConcurrencyWithOpenLoop, refuseOverridden, seedArg } from '../parse.js';
import { SEED_RANGE } from '../../shared/seed.js';
import { addWorkloadShapeOptions, checkWritableFiles, numRequestsDefaults, refuseUnusedWorkloadFlags } from '../options.js';
import { WORKLOADS } from '../../bench/workloads.js';
import { MAX_RATE_RPS, MIN_RATE_RPS, STAGE_BOUNDS, stagesArg } from '../../bench/specs.js';
import { ProgressLines, PROGRESS_INTERVAL_MS, seconds, threeDigits } from '../progress-lines.js';

/** Flags that decide what others would: --fleet sets every replica's count and profile, --compare and --config-file the policy, a trace the load. */
const OVERRIDES = [
  ['fleet', ['replicas', 'profile']],
  // A trace brings its own requests and arrival times; --stages is the general form of --rate.
  ['trace', ['stages', 'rate', 'dataset', 'workload']],
  ['stages', ['rate']],
  ['dataset', ['workload']],
  ['compare', ['preset', 'configFile']],
  ['configFile', ['preset']],
] as const;

/** plan: --replica-hourly is the price, so the price book's flags would be ignored. */
const PLAN_OVERRIDES = [['replicaHourly', ['pricing', 'prices', 'accelerator', 'acceleratorsPerReplica']]] as const;

/** Flags shared by `kvgate simulate` and `kvgate simulate plan`: fleet, policy, workload, arrivals, data paths. */
function commonOptions(cmd: Command, o: { plan: boolean }): Command {
  if (!o.plan) {
    cmd
      .option('--replicas <n>', 'modelled replicas, all of --profile; at most 4096', replicasArg('--replicas'), 3)
      .option('--fleet <spec>', 'mixed fleet instead of --replicas and --profile: COUNT:PROFILE[:flag=value…],… (flags: the engine flags below without dashes; counts sum to at most 4096), e.g. 4:qwen3-32b-h100-tp2,2:llama3-8b-h100:kv-cache-size=8000 (default: none, --replicas × --profile)');
  }
  addWorkloadShapeOptions(
    cmd
    .option('--profile <name>', 'engine profile of every replica (instant, qwen2.5-3b-tpu-v6e, qwen3-32b-h100-tp2, llama3-8b-h100)', 'qwen2.5-3b-tpu-v6e')
    .option('--max-num-seqs <n>', 'max running sequences per engine step (default: the profile\'s)', intArg('--max-num-seqs', 1))
    .option('--max-num-batched-tokens <n>', 'token budget per engine step, tokens (default: the profile\'s)', intArg('--max-num-batched-tokens', 1))
    .option('--block-size <n>', 'KV block size, tokens: 8, 16, 32, 64 or 128 (default: the profile\'s)', intArg('--block-size', 1))
    .option('--kv-cache-size <blocks>', 'KV cache capacity per replica, blocks: at most 67108864 (2^26), and 2^27 over the fleet (default: the profile\'s)', kvBlocksArg('--kv-cache-size'))
    .option('--max-model-len <n>', 'context length, tokens; longer prompts are refused with 400, and a synthetic workload whose prompt + --output-len fits no replica is refused before the run (default: the profile\'s)', intArg('--max-model-len', 1))
    .option('--no-enable-prefix-caching', 'replicas without prefix caching (default: prefix caching on)')
    .option('--preset <name>', 'routing preset', 'kvgate')
    .option('--config-file <file>', 'EndpointPickerConfig YAML instead of --preset (default: none)')
    .option('--compare <policies>', 'several policies side by side: presets or YAML files, e.g. random,gie-default,kvgate (default: none, the one policy of --preset or --config-file)', listArg)
    .addOption(new Option('--workload <name>', 'request mix (as kvgate bench)').choices([...WORKLOADS]).default('shared-prefix'))
    .option('--dataset <file.jsonl>', 'requests from a JSONL file ({"prompt"} or {"messages"} per line) instead of --workload (default: none)')
  )
    .option(
      '--num-requests <n>',
      o.plan
        ? `the size of a prefix-repetition, random or decode-heavy workload (arrivals cycle through it), or the first N of a --trace ${numRequestsDefaults({ prompt: false })}`
        : `requests of a closed loop (cycling through the workload), the size of a prefix-repetition, random or decode-heavy workload, or the first N of a --trace; at most 1,000,000 ${numRequestsDefaults({ prompt: false })}`,
      numRequestsArg('--num-requests'),
    )
    .option('--trace <file.jsonl>', 'replay a Mooncake-format trace (timestamp ms, input_length and output_length tokens, hash_ids of 512-token blocks) instead of --workload and its arrivals (default: none)')
    .option('--time-scale <x>', 'trace replay: multiply timestamps by x, a factor (0.5 = twice as fast)', numberArg('--time-scale', 1e-6), 1)
    .addOption(durationOption('--trace-window', 'trace replay: one report stage per window of replay time', 60_000, { positive: true }))
    .option('--stages <list>', `Poisson stages rate:seconds,… (inference-perf; ${STAGE_BOUNDS}), e.g. 3:60,10:30 (default: none, ${o.plan ? 'one --rate stage' : 'a --rate stage, or the closed loop of --concurrency'})`, stagesArg)
    .option('--rate <rps>', `one Poisson stage at this rate, requests/s, for --duration; at least ${MIN_RATE_RPS}, at most ${MAX_RATE_RPS.toLocaleString('en-US')}${o.plan ? ' (default: none, but plan sizes for a load: --rate, --stages or --trace is required)' : ' (default: none, the closed loop of --concurrency)'}`, numberArg('--rate', MIN_RATE_RPS, MAX_RATE_RPS))
    .addOption(durationOption('--duration', 'length of a --rate stage', o.plan ? 120_000 : 30_000, { positive: true }));
  // A closed loop adapts its load to the fleet, so there is no load to size a fleet for: plan has no --concurrency.
  if (!o.plan) cmd.option('--concurrency <n>', 'closed loop with N concurrent units (not with --stages, --rate or --trace: those are open loop)', intArg('--concurrency', 1), 10);
  return cmd
    .option('--seed <n>', `workload, arrival, router and engine seed, ${SEED_RANGE}; replica i's engine runs with seed + i, which must fit too${o.plan ? ' for every fleet up to --max-replicas' : ''}; every bit counts`, seedArg('--seed'), 1)
    .addOption(durationOption('--metrics-interval', 'metrics scrape period per replica', 50, { positive: true }))
    .addOption(durationOption('--scrape-latency', 'age of a scrape when the router gets it', 1))
    .addOption(durationOption('--network-latency', 'one-way latency per hop, client↔gateway↔replica', 0.2))
    .addOption(durationOption('--gateway-overhead', 'gateway time per request before it goes upstream', 0.15))
    .option('--tokenize-rate <tokens/ms>', 'prompt tokens per ms the model server\'s front end tokenizes before its engine sees them (0 = instant)', numberArg('--tokenize-rate', 0), 2000)
    .option('--no-kv-events', 'engines publish no KV events (default: they do and the gateway subscribes, as `kvgate up`; precise matching then falls back to the approximate index)')
    .addOption(durationOption('--kv-event-latency', "end of an engine step to its KV-event batch applied in the router's index", 1))
    .option('--no-flow-control', "gateway without its queue and dispatch gate (as `kvgate serve --no-flow-control`; default: on, as the gateway runs)")
    .addOption(durationOption('--progress-interval', 'wall time between progress lines on stderr, per policy (simulated and wall time so far; none when --json goes to a pipe; 0 = as often as the run checks)', PROGRESS_INTERVAL_MS))
    .option('--json', 'print the report as JSON on stdout (byte-identical for the same inputs and seed)', false)
    .option('--out <report.json>', 'write the JSON report to this file too (default: none)')
    .addHelpText('after', DURATION_HELP);
}

export function registerSimulate(program: Command): void {
  const sim = commonOptions(
    program
      .command('simulate')
      .enablePositionalOptions()
      .description('The real router over modelled vLLM replicas in virtual time: compare policies on your workload in seconds, deterministically'),
    { plan: false },
  )
    .option('--slo <spec>', 'goodput SLO: ttft, tpot, e2e limits per request, e.g. ttft=500,tpot=50 (a bare number is ms) or ttft=1s, or percentile targets such as ttft_p90=2s (default: none, no goodput)')
    .option('--html <report.html>', 'write an HTML report: TTFT, hit rate and throughput against load per policy, requests per replica (default: none)')
    .option('--validate', 'run the (small) workload in virtual time and in real time against `kvgate up`, and print both side by side', false)
    .addOption(new Option('--parallel <n>', 'policies simulated at once, on worker threads (the report does not depend on it)').argParser(intArg('--parallel', 1)).default(availableParallelism(), `CPU count, ${availableParallelism()} here`))
    .action(async (o, cmd: Command) => {
      refuseConcurrencyWithOpenLoop(o, (k) => cmd.getOptionValueSource(k));
      refuseOverridden((k) => cmd.getOptionValueSource(k) === 'cli', OVERRIDES);
      refuseUnusedWorkloadFlags((k) => cmd.getOptionValueSource(k) === 'cli', o);
      if (o.validate) {
        const { runValidation, formatValidation, validationJson, refuseNotWithValidate } = await import('../../simulate/validate.js');
        refuseNotWithValidate((k) => cmd.getOptionValueSource(k) === 'cli');
        await checkWritableFiles({ '--out': o.out });
        const v = await runValidation(o, { onStatus: (m: string) => process.stderr.write(`simulate --validate: ${m}\n`) });
        if (o.out) (await import('node:fs')).writeFileSync(o.out, `${validationJson(v)}\n`);
        process.stdout.write(o.json ? `${validationJson(v)}\n` : `${formatValidation(v)}\n`);
        return;
      }
      const { simulateOptionsOf } = await import('../../simulate/options.js');
      const { simulate } = await import('../../simulate/simulate.js');
      const { formatReport, reportJson } = await import('../../simulate/report.js');
      const { writeFileSync } = await import('node:fs');
      const opts = simulateOptionsOf(o);
      await checkWritableFiles({ '--out': o.out, '--html': o.html }); // not after minutes of simulation
      const t0 = performance.now();
      const progress = ProgressLines.wanted(o.json, process.stdout.isTTY) ? new ProgressLines({ prefix: 'simulate', intervalMs: o.progressInterval, write: (l) => process.stderr.write(l) }) : undefined;
      let simulatedS = 0;
      const report = await simulate(
        opts,
        (run) => {
          simulatedS += run.simulatedMs / 1000;
          if (progress) process.stderr.write(`simulate: ${run.policy} done — ${run.records.length} requests, ${seconds(run.simulatedMs / 1000)} simulated, ${seconds((performance.now() - t0) / 1000)} wall so far\n`);
        },
        { parallel: o.parallel, onProgress: progress && ((policy, ms) => progress.tick(policy, ms)) },
      );
      const wallS = (performance.now() - t0) / 1000;
      const json = reportJson(report);
      if (o.out) writeFileSync(o.out, `${json}\n`);
      if (o.html) {
        const { renderSimulateHtml } = await import('../../simulate/html.js');
        writeFileSync(o.html, renderSimulateHtml(report));
      }
      const speed = `wall ${seconds(wallS)} for ${seconds(simulatedS)} simulated (${threeDigits(simulatedS / Math.max(wallS, 1e-9))} simulated s per wall s)`;
      if (o.json) {
        process.stdout.write(`${json}\n`);
        process.stderr.write(`simulate: ${speed}\n`);
      } else {
        process.stdout.write(`kvgate simulate — ${report.config.fleet}; seed ${opts.seed}\n\n${formatReport(report)}\n\n${speed}\n`);
        if (o.out) process.stdout.write(`report: ${o.out}\n`);
        if (o.html) process.stdout.write(`html: ${o.html}\n`);
      }
      // As `kvgate bench`: failed requests say what the server said; a policy none of whose
      // requests completed measured nothing, so the run fails.
      const { formatErrorMessages } = await import('../../bench/error-messages.js');
      for (const p of report.policies) {
        const f = p.summary;
        if (f.errors === 0) continue;
        const lines = formatErrorMessages(f.error_messages, f.errors).map((l) => `${l}\n`).join('');
        const under = report.policies.length > 1 ? ` under ${p.policy}` : '';
        if (f.ok > 0) process.stderr.write(`simulate: ${f.errors} of ${f.requests} requests failed${under}:\n${lines}`);
        else {
          process.stderr.write(`kvgate: no request completed${under}: all ${f.requests} failed:\n${lines}`);
          process.exitCode = 1;
        }
      }
    });

  commonOptions(
    sim.command('plan').description('Fewest replicas per policy that meet an SLO at a rate (or for a trace), with $/hour, $/month and $/1M requests'),
    { plan: true },
  )
    .requiredOption('--slo <spec>', 'targets to meet: percentiles of ttft, tpot, e2e, e.g. ttft_p90=2s,tpot_p90=50ms (a bare number is ms; required)')
    .option('--max-replicas <n>', 'largest fleet to try, replicas; at most 4096', replicasArg('--max-replicas'), 64)
    .option('--accelerator <name>', 'price replicas as this accelerator of the price book, e.g. nvidia-h100 (default: the profile\'s hardware)')
    .option('--accelerators-per-replica <n>', 'accelerators one replica uses, a count (default: the profile\'s, else 1)', intArg('--accelerators-per-replica', 1))
    .option('--replica-hourly <usd>', 'price of one replica, USD per hour, instead of the price book (default: none, from --prices)', numberArg('--replica-hourly', 0))
    .option('--pricing <tier>', 'price tier of the price book: on-demand | 1y | 3y', 'on-demand')
    .option('--hours-per-month <h>', 'hours billed per month, h: at most 744 (31 days)', numberArg('--hours-per-month', 1, MAX_HOURS_PER_MONTH), 720)
    .option('--prices <file>', 'price book, a JSON file (default: data/prices.json)')
    .action(async (o, cmd: Command) => {
      refuseOverridden((k) => cmd.getOptionValueSource(k) === 'cli', [...OVERRIDES, ...PLAN_OVERRIDES]);
      refuseUnusedWorkloadFlags((k) => cmd.getOptionValueSource(k) === 'cli', o);
      await checkWritableFiles({ '--out': o.out }); // not after minutes of simulation
      const { runPlan, formatPlan, planJson, planMisses } = await import('../../simulate/plan.js');
      const progress = ProgressLines.wanted(o.json, process.stdout.isTTY) ? new ProgressLines({ prefix: 'simulate plan', intervalMs: o.progressInterval, write: (l) => process.stderr.write(l) }) : undefined;
      const plan = await runPlan(o, { onStatus: (m: string) => process.stderr.write(`simulate plan: ${m}\n`), onProgress: progress && ((label, ms) => progress.tick(label, ms)) });
      if (o.out) (await import('node:fs')).writeFileSync(o.out, `${planJson(plan)}\n`);
      process.stdout.write(o.json ? `${planJson(plan)}\n` : `${formatPlan(plan)}\n`);
      // A policy without an answer fails the plan, and says why (failed requests, or the targets missed).
      const misses = planMisses(plan);
      if (misses.length) {
        process.stderr.write(misses.map((l) => `${l.startsWith(' ') ? '' : 'kvgate: '}${l}\n`).join(''));
        process.exitCode = 1;
      }
    });
}
