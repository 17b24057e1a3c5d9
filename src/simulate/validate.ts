import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { runBench } from '../bench/run-bench.js';
import { formatErrorMessages } from '../bench/error-messages.js';
import type { BenchReport } from '../bench/report.js';
import { simulateOptionsOf, type SimulateFlags } from './options.js';
import { isPolicyFile, simulate, type SimulateOptions } from './simulate.js';
import { reportJson, type PolicyReport } from './report.js';

/** The figures compared between virtual and real time (times ms, rates per second). */
export interface Comparable {
  requests_ok: number;
  throughput_rps: number;
  output_tokens_per_s: number;
  ttft_p50_ms: number;
  ttft_p90_ms: number;
  ttft_mean_ms: number;
  tpot_p50_ms: number;
  e2e_p50_ms: number;
  hit_pct: number | null;
  prompt_tokens: number;
  /** Requests per replica, in replica order. */
  per_replica: number[];
}

export interface Validation {
  kvgate_simulate_validate: 1;
  config: Record<string, unknown>;
  virtual: Comparable;
  real: Comparable;
  /** (virtual − real) / real × 100 per figure (null where real is 0 or absent). */
  difference_pct: Record<string, number | null>;
}

function fromVirtual(p: PolicyReport): Comparable {
  const s = p.summary;
  return {
    requests_ok: s.ok,
    throughput_rps: s.throughput_rps,
    output_tokens_per_s: s.output_tokens_per_s,
    ttft_p50_ms: s.ttft_ms.p50,
    ttft_p90_ms: s.ttft_ms.p90,
    ttft_mean_ms: s.ttft_ms.mean,
    tpot_p50_ms: s.tpot_ms.p50,
    e2e_p50_ms: s.e2e_ms.p50,
    hit_pct: s.hit_pct,
    prompt_tokens: s.prompt_tokens,
    per_replica: p.replicas.map((r) => r.requests),
  };
}

/** The real run measured the same way as the virtual one: rates over first send to last completion. */
function fromReal(r: BenchReport, replicaUrls: string[]): Comparable {
  const ok = r.samples.filter((s) => s.ok);
  const start = Math.min(...r.samples.map((s) => s.start_ms));
  const end = Math.max(...r.samples.map((s) => s.start_ms + s.e2e_ms));
  const span = Math.max((end - start) / 1000, 1e-9);
  const out = ok.reduce((a, s) => a + s.output_tokens, 0);
  return {
    requests_ok: ok.length,
    throughput_rps: ok.length / span,
    output_tokens_per_s: out / span,
    ttft_p50_ms: r.summary.ttft_ms.p50,
    ttft_p90_ms: r.summary.ttft_ms.p90,
    ttft_mean_ms: r.summary.ttft_ms.mean,
    tpot_p50_ms: r.summary.tpot_ms.p50,
    e2e_p50_ms: r.summary.e2e_ms.p50,
    hit_pct: r.summary.cache_hit_pct,
    prompt_tokens: r.summary.prompt_tokens,
    per_replica: replicaUrls.map((u) => r.summary.per_endpoint[u.replace(/^https?:\/\//, '')] ?? 0),
  };
}

/** The CLI entry this module ships with: the TypeScript sources through tsx, or the compiled dist/. */
function kvgateCommand(): { cmd: string; args: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`../cli/run.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return { cmd: process.execPath, args: fromSource ? ['--import', 'tsx', entry] : [entry] };
}

/** Starts `kvgate up --json --port 0 --sim-base-port 0 …` (KV events then on free ports too) and waits for its JSON line. */
async function startFleet(args: string[], timeoutMs: number): Promise<{ child: ChildProcess; gatewayUrl: string; replicas: string[]; kvEvents: boolean; preset: string | null }> {
  const { cmd, args: base } = kvgateCommand();
  const child = spawn(cmd, [...base, 'up', '--json', '--port', '0', '--sim-base-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kvgate up did not report ready within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
      const onData = (d: Buffer) => {
        seen += d.toString();
        const m = /\{"gateway_url".*\}/.exec(seen);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kvgate up exited (${code}) before it was ready:\n${seen}`));
      });
    });
    const j = JSON.parse(line) as { gateway_url: string; replicas: string[]; kv_events: unknown; preset: string | null };
    // The gateway lists models once its health probes have seen the replicas.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await fetch(`${j.gateway_url}/v1/models`).then((x) => x.json() as Promise<{ data?: unknown[] }>).catch(() => ({ data: [] }));
      if (r.data?.length) break;
      if (Date.now() > deadline) throw new Error(`the gateway at ${j.gateway_url} listed no models within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
    return { child, gatewayUrl: j.gateway_url, replicas: j.replicas, kvEvents: j.kv_events !== null && j.kv_events !== undefined, preset: j.preset };
  } catch (err) {
    child.kill('SIGKILL');
    throw new KvgateError(ErrorCode.Internal, (err as Error).message);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Flags of `kvgate simulate` that mean nothing in --validate (commander attribute → why), refused
 * rather than ignored: the comparison would not be the run the user asked for.
 */
const NOT_WITH_VALIDATE: Record<string, string> = {
  slo: '--slo does not apply to --validate: it compares the two runs figure by figure, with no goodput (run without --validate for --slo)',
  html: '--html does not apply to --validate (its report is the side-by-side table; --out writes its JSON)',
  parallel: '--parallel does not apply to --validate: it simulates one policy, on no worker thread',
  traceWindow: '--trace-window does not apply to --validate: it compares whole-run figures, not windows of the replay',
};

/** Refuses a flag --validate has no use for; `given(key)`: the user set it (commander's attribute name). Throws InvalidConfig naming the flag. */
export function refuseNotWithValidate(given: (key: string) => boolean): void {
  for (const [key, why] of Object.entries(NOT_WITH_VALIDATE)) {
    if (given(key)) throw new KvgateError(ErrorCode.InvalidConfig, why, { param: key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) });
  }
}

/**
 * `kvgate up`'s arguments for the real side: the fleet, policy, seed, gateway and engine flags that
 * shaped the virtual run, so both halves run the same configuration. The policy entry is read as
 * resolvePolicies read it (a YAML path is `up`'s --config-file, a preset name its --preset; a
 * YAML's policy name is only its file name). The gateway's scrape period and flow control are
 * given explicitly (`up` --metrics-interval, --no-flow-control); the data-path latencies
 * (--network-latency, --scrape-latency, …) model the real path and have no flag there.
 */
export function upArgsOf(f: SimulateFlags, opts: SimulateOptions): string[] {
  const entry = f.compare?.[0] ?? f.configFile ?? f.preset;
  const args = ['--replicas', String(opts.fleet[0].count), '--profile', opts.fleet[0].profile, ...(isPolicyFile(entry) ? ['--config-file', entry] : ['--preset', entry])];
  // The engine seed: replica i runs seed + i on both sides (buildFleet, startSimFleet); bench seeds the workload and arrivals.
  args.push('--seed', String(opts.seed));
  args.push('--metrics-interval', `${opts.path.metricsIntervalMs}ms`);
  if (!opts.path.flowControl) args.push('--no-flow-control');
  if (f.enablePrefixCaching === false) args.push('--no-enable-prefix-caching');
  // The engine flags `kvgate up` passes to its replicas, so both sides run the same engines.
  for (const [flag, v] of [['--kv-cache-size', f.kvCacheSize], ['--block-size', f.blockSize], ['--max-num-seqs', f.maxNumSeqs], ['--max-num-batched-tokens', f.maxNumBatchedTokens]] as const) {
    if (v !== undefined) args.push(flag, String(v));
  }
  // KV events as on the virtual side: `up` publishes them on free ports beside --sim-base-port 0.
  if (opts.path.kvEvents === false) args.push('--kv-events-base-port', '0');
  return args;
}

/**
 * Parses `kvgate up`'s arguments with `up`'s own flag definitions, before anything runs: a value
 * the virtual side takes but `up` refuses (e.g. --metrics-interval under 1 ms, a timer period
 * Node cannot keep) is reported at once, naming the flag, not as "kvgate up exited" after the
 * whole virtual run. Throws InvalidConfig.
 */
export async function checkUpArgs(args: string[]): Promise<void> {
  const { Command, CommanderError } = await import('commander');
  const { registerUp } = await import('../cli/commands/up.js');
  const program = new Command();
  registerUp(program);
  const up = program.commands.find((c) => c.name() === 'up')!;
  up.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let unknown: string[];
  try {
    unknown = up.parseOptions(args).unknown;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    const flag = /--[a-z][a-z-]*/.exec(err.message)?.[0];
    throw new KvgateError(ErrorCode.InvalidConfig, `kvgate up, the real side of --validate, refuses ${flag ?? 'its arguments'}: ${err.message.replace(/^error: /, '')}`, { param: flag?.slice(2) });
  }
  // upArgsOf gives only flags `up` has: an unknown one is this module's bug, not the user's.
  if (unknown.length) throw new KvgateError(ErrorCode.Internal, `kvgate up does not take ${unknown[0]} (from simulate --validate)`);
}

/**
 * The fidelity check: the same workload, profile, policy and seed in virtual time and in real time
 * against a local fleet as `kvgate up` builds it (a subprocess; replicas and gateway on free ports),
 * driven by `kvgate bench`'s load driver, with the same configuration (upArgsOf: policy, gateway
 * and engine flags; KV events on in both unless --no-kv-events); a mixed --fleet and
 * --max-model-len have no `up` equivalent.
 */
export async function runValidation(f: SimulateFlags, o: { onStatus?: (m: string) => void; readyTimeoutMs?: number } = {}): Promise<Validation> {
  if (f.fleet || f.maxModelLen) {
    // Name only the flags given (it said "drop --fleet and --max-model-len" to a user who gave one).
    const given = [f.fleet ? '--fleet' : '', f.maxModelLen ? '--max-model-len' : ''].filter(Boolean);
    throw new KvgateError(ErrorCode.InvalidConfig, `--validate runs the fleet \`kvgate up\` builds (one --profile, its engine flags): drop ${given.join(' and ')}`, { param: given[0].slice(2) });
  }
  if (f.compare && f.compare.length > 1) throw new KvgateError(ErrorCode.InvalidConfig, '--validate checks one policy: give --preset or --config-file, not --compare', { param: 'compare' });
  const opts = simulateOptionsOf(f);
  const policy = opts.policies[0];
  const upArgs = upArgsOf(f, opts);
  await checkUpArgs(upArgs);
  o.onStatus?.(`virtual time: ${policy.name} on ${opts.fleet[0].count} × ${opts.fleet[0].profile}`);
  const virtual = (await simulate(opts)).policies[0];
  // Inputs under which no request can complete (a prompt longer than the context, a KV cache
  // smaller than one prompt) fail alike in real time: say so now, with what the engines said,
  // rather than start a fleet to print a table of zeros.
  if (virtual.summary.ok === 0) {
    const lines = formatErrorMessages(virtual.summary.error_messages, virtual.summary.errors).map((l) => `\n${l}`).join('');
    throw new KvgateError(ErrorCode.InvalidConfig, `no request completed in virtual time (all ${virtual.summary.requests} failed), so the real run would measure nothing; kvgate up was not started:${lines}`);
  }

  o.onStatus?.('real time: starting kvgate up');
  const fleet = await startFleet(upArgs, o.readyTimeoutMs ?? 60_000);
  let real: BenchReport;
  try {
    o.onStatus?.(`real time: kvgate bench against ${fleet.gatewayUrl}`);
    const load = opts.load;
    real = await runBench({
      url: fleet.gatewayUrl,
      label: `${policy.name} (real time)`,
      workload: opts.workload,
      trace: opts.trace,
      concurrency: load.kind === 'closed' ? load.concurrency : 1,
      stages: load.kind === 'stages' ? load.stages : [{}],
      numRequests: load.kind === 'closed' ? load.numRequests : undefined,
      timeoutMs: 600_000,
    });
  } finally {
    await stop(fleet.child);
  }
  const v = fromVirtual(virtual);
  const r = fromReal(real, fleet.replicas);
  const difference_pct: Record<string, number | null> = {};
  for (const k of Object.keys(v) as (keyof Comparable)[]) {
    const a = v[k];
    const b = r[k];
    if (typeof a !== 'number' || typeof b !== 'number') continue;
    difference_pct[k] = b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? ((a - b) / b) * 100 : null;
  }
  return {
    kvgate_simulate_validate: 1,
    config: {
      fleet: `${opts.fleet[0].count} × ${opts.fleet[0].profile}`,
      policy: policy.name,
      workload: opts.trace ? { trace: opts.trace.path } : opts.workload,
      load: opts.load,
      seed: opts.seed,
      path: opts.path,
      // What the real side ran, as `kvgate up` reported it when ready: its preset (null: a
      // --config-file) and whether its replicas published KV events; and its arguments.
      real_fleet: { up_args: upArgs, preset: fleet.preset, kv_events: fleet.kvEvents },
    },
    virtual: v,
    real: r,
    difference_pct,
  };
}

export function validationJson(v: Validation): string {
  return reportJson(v);
}

const f1 = (x: number | null | undefined, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));

export function formatValidation(v: Validation): string {
  const rows: string[][] = [['', 'virtual time', 'real time', 'difference']];
  const labels: Record<keyof Comparable, string> = {
    requests_ok: 'requests ok',
    throughput_rps: 'throughput req/s',
    output_tokens_per_s: 'output tokens/s',
    ttft_p50_ms: 'TTFT p50 ms',
    ttft_p90_ms: 'TTFT p90 ms',
    ttft_mean_ms: 'TTFT mean ms',
    tpot_p50_ms: 'TPOT p50 ms',
    e2e_p50_ms: 'E2E p50 ms',
    hit_pct: 'prefix hit %',
    prompt_tokens: 'prompt tokens',
    per_replica: 'requests per replica',
  };
  for (const k of Object.keys(labels) as (keyof Comparable)[]) {
    const a = v.virtual[k];
    const b = v.real[k];
    if (Array.isArray(a) && Array.isArray(b)) rows.push([labels[k], a.join('/'), b.join('/'), '']);
    else {
      const d = k === 'hit_pct' && typeof a === 'number' && typeof b === 'number' ? `${f1(a - b)} points` : `${(v.difference_pct[k] ?? 0) >= 0 ? '+' : ''}${f1(v.difference_pct[k])} %`;
      const digits = k === 'throughput_rps' ? 2 : k === 'requests_ok' || k === 'prompt_tokens' ? 0 : 1;
      rows.push([labels[k], f1(a as number | null, digits), f1(b as number | null, digits), d]);
    }
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const table = rows.map((r, i) => r.map((x, c) => x.padEnd(w[c])).join('  ').trimEnd() + (i === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : '')).join('\n');
  return `kvgate simulate --validate — ${v.config.fleet}, policy ${v.config.policy}, seed ${v.config.seed}\n\n${table}`;
}
