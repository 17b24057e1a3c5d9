import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { intArg, numberArg, durationOption, listArg, DURATION_HELP, refuseConcurrencyWithOpenLoop, refuseOverridden } from '../parse.js';
import { addWorkloadShapeOptions, checkWritableFiles, numRequestsDefaults, refuseUnusedWorkloadFlags } from '../options.js';
import { WORKLOADS } from '../../bench/workloads.js';

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

/** Three significant digits (2 decimals at most): 0.0412, 9.87, 123. */
function threeDigits(x: number): string {
  return x >= 100 ? x.toFixed(0) : String(+x.toPrecision(3));
}

/** Seconds with a unit that keeps three digits, so a sub-second run does not read "0.0 s": 41.2 ms, 1.23 s, 12.3 s. */
function seconds(s: number): string {
  return s < 1 ? `${threeDigits(s * 1000)} ms` : `${threeDigits(s)} s`;
}

/** Flags shared by `kvgate simulate` and `kvgate simulate plan`: fleet, policy, workload, arrivals, data paths. */
function commonOptions(cmd: Command, o: { plan: boolean }): Command {
  if (!o.plan) {
    cmd
      .option('--replicas <n>', 'modelled replicas', intArg('--replicas', 1), 3)
      .option('--fleet <spec>', 'mixed fleet: COUNT:PROFILE[:flag=value…],… e.g. 4:qwen3-32b-h100-tp2,2:llama3-8b-h100:kv-cache-size=8000 (default: --replicas × --profile)');
  }
  addWorkloadShapeOptions(
    cmd
    .option('--profile <name>', 'engine profile of every replica (instant, qwen2.5-3b-tpu-v6e, qwen3-32b-h100-tp2, llama3-8b-h100)', 'qwen2.5-3b-tpu-v6e')
    .option('--max-num-seqs <n>', 'max running sequences per step (default: profile)', intArg('--max-num-seqs', 1))
    .option('--max-num-batched-tokens <n>', 'token budget per step (default: profile)', intArg('--max-num-batched-tokens', 1))
    .option('--block-size <n>', 'KV block size in tokens: 8, 16, 32, 64 or 128 (default: profile)', intArg('--block-size', 1))
    .option('--kv-cache-size <blocks>', 'KV cache capacity per replica in blocks (default: profile)', intArg('--kv-cache-size', 1))
    .option('--max-model-len <n>', 'context length in tokens (default: profile)', intArg('--max-model-len', 1))
    .option('--no-enable-prefix-caching', 'replicas without prefix caching (default: on)')
    .option('--preset <name>', 'routing preset', 'kvgate')
    .option('--config-file <file>', 'EndpointPickerConfig YAML, instead of --preset (default: none)')
    .option('--compare <policies>', 'several policies side by side: presets or YAML files, e.g. random,gie-default,kvgate (default: the one of --preset or --config-file)', listArg)
    .addOption(new Option('--workload <name>', 'request mix (as kvgate bench)').choices([...WORKLOADS]).default('shared-prefix'))
    .option('--dataset <file.jsonl>', 'requests from a JSONL file ({"prompt"} or {"messages"} per line) (default: none, --workload)')
  )
    .option(
      '--num-requests <n>',
      o.plan
        ? `the size of a prefix-repetition, random or decode-heavy workload (arrivals cycle through it), or the first N of a --trace ${numRequestsDefaults({ prompt: false })}`
        : `requests of a closed loop (cycling through the workload), the size of a prefix-repetition, random or decode-heavy workload, or the first N of a --trace ${numRequestsDefaults({ prompt: false })}`,
      intArg('--num-requests', 1),
    )
    .option('--trace <file.jsonl>', 'replay a Mooncake-format trace (timestamp in ms, input_length and output_length in tokens, hash_ids of 512-token blocks) (default: none)')
    .option('--time-scale <x>', 'trace replay: multiply timestamps by x (0.5 = twice as fast)', numberArg('--time-scale', 1e-6), 1)
    .addOption(durationOption('--trace-window', 'trace replay: one report stage per window of replay time', 60_000, { positive: true }))
    .option('--stages <list>', 'Poisson stages rate:seconds,… (inference-perf; rate in requests/s), e.g. 3:60,10:30 (default: none)')
    .option('--rate <rps>', `one Poisson stage at this rate, requests/s, for --duration (default: none${o.plan ? '; plan sizes for a load: --rate, --stages or --trace is required' : ', a closed loop of --concurrency'})`, numberArg('--rate', 0.001))
    .addOption(durationOption('--duration', 'length of a --rate stage', o.plan ? 120_000 : 30_000, { positive: true }));
  // A closed loop adapts its load to the fleet, so there is no load to size a fleet for: plan has no --concurrency.
  if (!o.plan) cmd.option('--concurrency <n>', 'closed loop with N concurrent units (not with --stages, --rate or --trace: those are open loop)', intArg('--concurrency', 1), 10);
  return cmd
    .option('--seed <n>', 'workload, arrival, router and engine seed', intArg('--seed'), 1)
    .addOption(durationOption('--metrics-interval', 'metrics scrape period per replica', 50, { positive: true }))
    .addOption(durationOption('--scrape-latency', 'age of a scrape when the router gets it', 1))
    .addOption(durationOption('--network-latency', 'one-way latency per hop, client↔gateway↔replica', 0.2))
    .addOption(durationOption('--gateway-overhead', 'gateway time per request before it goes upstream', 0.15))
    .option('--tokenize-rate <tokens/ms>', 'prompt tokens per ms the model server\'s front end tokenizes before its engine sees them (0 = instant)', numberArg('--tokenize-rate', 0), 2000)
    .option('--no-kv-events', 'engines publish no KV events (default: they do and the gateway subscribes, as `kvgate up`; precise matching then falls back to the approximate index)')
    .addOption(durationOption('--kv-event-latency', "end of an engine step to its KV-event batch applied in the router's index", 1))
    .option('--no-flow-control', "gateway without its queue and dispatch gate (as `kvgate serve --no-flow-control`; default: on, as the gateway runs)")
    .option('--json', 'print the report as JSON (byte-identical for the same inputs and seed)', false)
    .option('--out <report.json>', 'write the JSON report (default: none)')
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
    .option('--html <report.html>', 'write an HTML report (TTFT and hit rate against load per policy) (default: none)')
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
      let simulatedS = 0;
      const report = await simulate(
        opts,
        (run) => {
          simulatedS += run.simulatedMs / 1000;
          process.stderr.write(`simulate: ${run.policy} done — ${run.records.length} requests, ${seconds(run.simulatedMs / 1000)} simulated, ${seconds((performance.now() - t0) / 1000)} wall so far\n`);
        },
        { parallel: o.parallel },
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
    .requiredOption('--slo <spec>', 'targets to meet, e.g. ttft_p90=2s,tpot_p90=50ms (a bare number is ms; required, no default)')
    .option('--max-replicas <n>', 'largest fleet to try', intArg('--max-replicas', 1), 64)
    .option('--accelerator <name>', 'price replicas as this accelerator (default: from the profile)')
    .option('--accelerators-per-replica <n>', 'accelerators one replica uses (default: from the profile)', intArg('--accelerators-per-replica', 1))
    .option('--replica-hourly <usd>', 'price of one replica per hour, USD, instead of the price book (default: the price book\'s)', numberArg('--replica-hourly', 0))
    .option('--pricing <tier>', 'on-demand | 1y | 3y', 'on-demand')
    .option('--hours-per-month <h>', 'hours billed per month', numberArg('--hours-per-month', 1), 720)
    .option('--prices <file>', 'price file (default: data/prices.json)')
    .action(async (o, cmd: Command) => {
      refuseOverridden((k) => cmd.getOptionValueSource(k) === 'cli', OVERRIDES);
      refuseUnusedWorkloadFlags((k) => cmd.getOptionValueSource(k) === 'cli', o);
      await checkWritableFiles({ '--out': o.out }); // not after minutes of simulation
      const { runPlan, formatPlan, planJson } = await import('../../simulate/plan.js');
      const plan = await runPlan(o, { onStatus: (m: string) => process.stderr.write(`simulate plan: ${m}\n`) });
      if (o.out) (await import('node:fs')).writeFileSync(o.out, `${planJson(plan)}\n`);
      process.stdout.write(o.json ? `${planJson(plan)}\n` : `${formatPlan(plan)}\n`);
      if (plan.policies.some((p) => p.replicas === null)) process.exitCode = 1;
    });
}
