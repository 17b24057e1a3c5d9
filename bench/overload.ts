// npm run bench:overload — kvgate serve under offered load stepping to 3× its fleet's capacity,
// with two priority classes (critical = InferenceObjective priority 10, sheddable = -1), then
// 2,000 concurrent clients, then the 40-slow-body attack. Replicas are `kvgate sim` processes
// with the qwen2.5-3b-tpu-v6e latency model (batch limited with --max-num-seqs so this machine can
// drive three times their capacity); the gateway runs in its own process so its RSS is its own.
//
// Prints goodput and TTFT per class per step, shed counts, the queue depth over time, the
// gateway's peak RSS, and ends with one JSON line whose keys carry their units.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { printTable, repoRoot, stopProcess, percentile } from './lib.js';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 2);
const MAX_NUM_SEQS = Number(process.env.BENCH_MAX_NUM_SEQS ?? 32);
const PROFILE = process.env.BENCH_PROFILE ?? 'qwen2.5-3b-tpu-v6e';
const PROMPT_TOKENS = Number(process.env.BENCH_PROMPT_TOKENS ?? 200);
const OUTPUT_TOKENS = Number(process.env.BENCH_OUTPUT_TOKENS ?? 64);
const STEP_S = Number(process.env.BENCH_STEP_SECONDS ?? 20);
const STEPS = (process.env.BENCH_STEPS ?? '0.5,1,2,3').split(',').map(Number);
/** Critical traffic at the top step, as a fraction of the fleet's capacity (the rest of the offered load is sheddable). */
const CRITICAL_OF_CAPACITY = Number(process.env.BENCH_CRITICAL_OF_CAPACITY ?? 0.95);
const CONCURRENT_CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000);
const SLOW_BODIES = Number(process.env.BENCH_SLOW_BODIES ?? 40);
const SLOW_WAIT_S = Number(process.env.BENCH_SLOW_WAIT_SECONDS ?? 60);
const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

const MiB = 1024 * 1024;
const status = (pid: number, key: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startCli(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/run.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve({ child, url: m[1] });
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (c) => reject(new Error(`kvgate ${args[0]} exited ${c}: ${out}`)));
  });
}

async function metricSum(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** A histogram's cumulative bucket counts (upper bound in s → count), summed over `urls`. */
async function buckets(urls: string[], name: string, labels: Record<string, string> = {}): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}_bucket{`)) continue;
      const m = /\{(.*)\}\s+(\S+)/.exec(line);
      if (!m || !Object.entries(labels).every(([k, v]) => m[1].includes(`${k}="${v}"`))) continue;
      const le = /le="([^"]+)"/.exec(m[1])?.[1];
      const bound = le === '+Inf' ? Infinity : Number(le);
      out.set(bound, (out.get(bound) ?? 0) + Number(m[2]));
    }
  }
  return out;
}

/** The q-quantile (ms) of what a histogram recorded between two `buckets` reads: the upper bound of the bucket it falls in. */
function bucketQuantileMs(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (b: number) => (after.get(b) ?? 0) - (before.get(b) ?? 0);
  const total = delta(Infinity);
  if (!(total > 0)) return NaN;
  for (const b of bounds) if (delta(b) >= q * total) return b * 1000;
  return Infinity;
}

// ~4 characters per token (the estimate tokenizer); each prompt unique so no prefix is cached.
let seq = 0;
const words = 'the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches'.split(' ');
function prompt(): string {
  const n = seq++;
  let s = `request ${n}:`;
  while (s.length < PROMPT_TOKENS * 4) s += ` ${words[(s.length * 7 + n) % words.length]}`;
  return s;
}

type Cls = 'critical' | 'sheddable';
interface Outcome {
  cls: Cls;
  status: number;
  ttftMs?: number;
  reason?: string;
  at: number;
  endAt: number;
  ok: boolean;
}

const agent = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 10_000 });

/** One streamed completion; TTFT = time to the first token event. */
async function send(url: string, cls: Cls): Promise<Outcome> {
  const at = performance.now();
  const body = JSON.stringify({ model: MODEL, prompt: prompt(), max_tokens: OUTPUT_TOKENS, ignore_eos: true, stream: true });
  try {
    const r = await request(`${url}/v1/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'x-gateway-inference-objective': cls }, body, headersTimeout: 0, bodyTimeout: 0 });
    let ttftMs: number | undefined;
    let tail = '';
    for await (const chunk of r.body) {
      if (ttftMs === undefined && r.statusCode === 200) ttftMs = performance.now() - at;
      tail = (tail + chunk.toString()).slice(-64);
    }
    const reason = r.headers['x-llm-d-request-dropped-reason'];
    const ok = r.statusCode === 200 && tail.includes('[DONE]') && !tail.includes('"error"');
    return { cls, status: r.statusCode, ttftMs, reason: typeof reason === 'string' ? reason : undefined, at, endAt: performance.now(), ok };
  } catch {
    return { cls, status: 0, at, endAt: performance.now(), ok: false };
  }
}

/** Open loop: Poisson arrivals per class for `seconds`; resolves when every request ended. */
async function openLoop(url: string, rates: Record<Cls, number>, seconds: number): Promise<Outcome[]> {
  const all: Promise<Outcome>[] = [];
  const end = performance.now() + seconds * 1000;
  const total = rates.critical + rates.sheddable;
  let next = performance.now();
  let u = 0.5;
  while (next < end) {
    const wait = next - performance.now();
    if (wait > 1) await sleep(wait);
    // Deterministic low-discrepancy class choice and exponential gaps (seeded, reproducible).
    u = (u + 0.6180339887) % 1;
    all.push(send(url, u < rates.critical / total ? 'critical' : 'sheddable'));
    const v = ((all.length * 0.7548776662) % 1) || 0.5;
    next += (-Math.log(v) / total) * 1000;
  }
  return Promise.all(all);
}

/** Closed loop: `n` clients each sending back to back for `seconds`. */
async function closedLoop(url: string, n: number, seconds: number, cls: Cls): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (performance.now() < end) {
        const o = await send(url, cls);
        out.push(o);
        if (!o.ok) await sleep(50);
      }
    }),
  );
  return out;
}

function summarize(os: Outcome[], seconds: number) {
  const ttft = os.filter((o) => o.ok && o.ttftMs !== undefined).map((o) => o.ttftMs!).sort((a, b) => a - b);
  const by = (s: number) => os.filter((o) => o.status === s).length;
  return {
    offered: os.length,
    ok: os.filter((o) => o.ok).length,
    goodputRps: os.filter((o) => o.ok).length / seconds,
    p50: percentile(ttft, 50),
    p99: percentile(ttft, 99),
    s429: by(429),
    s503: by(503),
    other: os.filter((o) => !o.ok && o.status !== 429 && o.status !== 503).length,
  };
}

const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '—');

const sims = await Promise.all(Array.from({ length: REPLICAS }, () => startCli(['sim', '--port', '0', '--profile', PROFILE, '--max-num-seqs', String(MAX_NUM_SEQS)], /listening on (http:\/\/[\d.:]+)/)));
const gw = await startCli(
  ['serve', '--endpoints', sims.map((s) => s.url).join(','), '--port', '0', '--no-access-log', '--log-level', 'error', '--trust-routing-headers', '--objective', 'critical=10', '--objective', 'sheddable=-1', ...(process.env.BENCH_GATEWAY_ARGS ?? '').split(' ').filter(Boolean)],
  /listening on (http:\/\/[\d.:]+)/,
);
const pid = gw.child.pid!;
const timeline: { t: number; phase: string; queue: number; engine: number; rssMiB: number }[] = [];
const t0 = performance.now();
let phase = 'warm-up';
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    try {
      const [queue, engine] = await Promise.all([metricSum(gw.url, 'inference_extension_flow_control_queue_size'), Promise.all(sims.map((s) => metricSum(s.url, 'vllm:num_requests_waiting'))).then((xs) => xs.reduce((a, b) => a + b, 0))]);
      timeline.push({ t: (performance.now() - t0) / 1000, phase, queue, engine, rssMiB: status(pid, 'VmRSS') / MiB });
    } catch {
      /* a scrape during shutdown */
    }
    await sleep(1000);
  }
})();

try {
  await sleep(1500); // first scrapes: max_num_seqs known, caps sized
  for (let i = 0; i < 20; i++) await send(gw.url, 'critical');
  phase = 'unloaded';
  const unloaded = summarize(await closedLoop(gw.url, 1, 10, 'critical'), 10);
  phase = 'capacity';
  const capRun = await closedLoop(gw.url, REPLICAS * MAX_NUM_SEQS, STEP_S, 'critical');
  const capacity = summarize(capRun, STEP_S).goodputRps;
  const top = STEPS.at(-1)!;
  const criticalShare = CRITICAL_OF_CAPACITY / top;
  // Where a critical tail comes from, per phase: the replicas' own TTFT (vllm:time_to_first_token_seconds,
  // every class; the sheddable traffic admitted is a few percent) and the critical class's wait in
  // the gateway queue (flow control's queue-duration histogram), both as bucket upper bounds.
  const where: (string | number)[][] = [['phase', "replicas' own TTFT p50 / p99 ms (≤ bucket)", 'critical gateway-queue wait p99 ms (≤ bucket)']];
  const diag: Record<string, { engine_ttft_p99_ms: number; critical_queue_wait_p99_ms: number }> = {};
  const simUrls = sims.map((s) => s.url);
  const QUEUE = 'inference_extension_flow_control_request_queue_duration_seconds';
  const readDiag = async () => ({ engine: await buckets(simUrls, 'vllm:time_to_first_token_seconds'), queue: await buckets([gw.url], QUEUE, { priority: '10', outcome: 'Dispatched' }) });
  const noteDiag = (key: string, label: string, d0: Awaited<ReturnType<typeof readDiag>>, d1: Awaited<ReturnType<typeof readDiag>>) => {
    const engineP99 = bucketQuantileMs(d0.engine, d1.engine, 0.99);
    const queueP99 = bucketQuantileMs(d0.queue, d1.queue, 0.99);
    diag[key] = { engine_ttft_p99_ms: engineP99, critical_queue_wait_p99_ms: queueP99 };
    where.push([label, `${fmt(bucketQuantileMs(d0.engine, d1.engine, 0.5))} / ${fmt(engineP99)}`, fmt(queueP99, 1)]);
  };
  // The reference for what the sheddable flood costs critical traffic: critical alone, same rate.
  phase = 'critical alone';
  const a0 = await readDiag();
  const alone = summarize(await openLoop(gw.url, { critical: CRITICAL_OF_CAPACITY * capacity, sheddable: 0 }, STEP_S), STEP_S);
  noteDiag('critical_alone', 'critical alone', a0, await readDiag());
  await sleep(2000);
  const rows: (string | number)[][] = [['offered × capacity', 'class', 'offered req/s', 'goodput req/s', 'TTFT p50 ms', 'TTFT p99 ms', '429', '503', 'other']];
  const steps: Record<string, ReturnType<typeof summarize>> = {};
  for (const x of STEPS) {
    phase = `${x}×`;
    const total = x * capacity;
    const d0 = await readDiag();
    const outs = await openLoop(gw.url, { critical: total * criticalShare, sheddable: total * (1 - criticalShare) }, STEP_S);
    noteDiag(`step_${String(x).replace('.', '_')}`, `${x}×`, d0, await readDiag());
    for (const cls of ['critical', 'sheddable'] as const) {
      const s = summarize(
        outs.filter((o) => o.cls === cls),
        STEP_S,
      );
      steps[`${x}_${cls}`] = s;
      rows.push([`${x}×`, cls, fmt(s.offered / STEP_S, 1), fmt(s.goodputRps, 1), fmt(s.p50), fmt(s.p99), s.s429, s.s503, s.other]);
    }
    await sleep(2000);
  }
  phase = `${CONCURRENT_CLIENTS} clients`;
  const hwmBefore = status(pid, 'VmHWM');
  // The clients stop sending after STEP_S; the queue they built drains after that, so goodput is over the whole phase.
  const crowdT0 = performance.now();
  const crowdOut = CONCURRENT_CLIENTS ? await closedLoop(gw.url, CONCURRENT_CLIENTS, STEP_S, 'critical') : [];
  const crowd = summarize(crowdOut, Math.max(STEP_S, (performance.now() - crowdT0) / 1000));
  const peakRss = status(pid, 'VmHWM');
  await sleep(2000);

  // The 40-slow-body attack: 40 connections announce 16 MiB and send 15 MB, then stall.
  phase = 'slow bodies';
  const slowBaseline = status(pid, 'VmRSS');
  const u = new URL(gw.url);
  const slowStatuses: Record<string, number> = {};
  const chunk = Buffer.alloc(64 * 1024, 'a');
  await Promise.all(
    Array.from(
      { length: SLOW_BODIES },
      () =>
        new Promise<void>((resolve) => {
          const s = connect(Number(u.port), u.hostname, async () => {
            s.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${16 * MiB}\r\n\r\n`);
            for (let sent = 0; sent < 15_000_000 && !s.destroyed; sent += chunk.length) if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
          });
          let head = '';
          s.on('data', (d) => (head += d.toString('latin1')));
          s.on('error', () => undefined);
          s.on('close', () => {
            const code = /^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 'closed';
            slowStatuses[code] = (slowStatuses[code] ?? 0) + 1;
            resolve();
          });
        }),
    ),
  );
  const slowPeak = Math.max(...timeline.filter((x) => x.phase === 'slow bodies').map((x) => x.rssMiB), status(pid, 'VmRSS') / MiB) * MiB;
  await sleep(SLOW_WAIT_S * 1000);
  const slowAfter = status(pid, 'VmRSS');
  sampling = false;
  await sampler;

  console.log(`\nkvgate serve under overload — ${REPLICAS} × kvgate sim (${PROFILE}, max_num_seqs ${MAX_NUM_SEQS}), ${PROMPT_TOKENS}-token unique prompts, ${OUTPUT_TOKENS} streamed output tokens; 2 cores shared by load, gateway and replicas`);
  console.log(`unloaded TTFT (1 client): p50 ${fmt(unloaded.p50)} ms, p99 ${fmt(unloaded.p99)} ms; fleet capacity (closed loop, ${REPLICAS * MAX_NUM_SEQS} clients): ${fmt(capacity, 1)} req/s`);
  console.log(`critical share of the offered load: ${fmt(criticalShare * 100)} % (at ${top}× capacity: ${fmt(CRITICAL_OF_CAPACITY, 2)}× capacity of critical traffic, the rest sheddable)`);
  console.log(`critical alone at that rate (${fmt(alone.offered / STEP_S, 1)} req/s, no sheddable traffic): goodput ${fmt(alone.goodputRps, 1)} req/s, TTFT p50 ${fmt(alone.p50)} ms, p99 ${fmt(alone.p99)} ms\n`);
  printTable(rows);
  console.log('\nwhere the critical tail is (the replicas see every class; histogram buckets, so each value is an upper bound):');
  printTable(where);
  console.log('\nqueue depth over time (every 2nd sample): t s · phase · gateway queue · engines waiting · gateway RSS MiB');
  console.log(
    timeline
      .filter((_, i) => i % 2 === 0)
      .map((x) => `${x.t.toFixed(0)}s ${x.phase} q=${x.queue} w=${x.engine} ${x.rssMiB.toFixed(0)}M`)
      .join(' | '),
  );
  console.log(`\n${CONCURRENT_CLIENTS} concurrent clients: ${crowd.ok} served (${fmt(crowd.goodputRps, 1)} req/s), ${crowd.s503} × 503, ${crowd.s429} × 429, ${crowd.other} other; gateway peak RSS ${fmt(peakRss / MiB)} MiB (before: ${fmt(hwmBefore / MiB)} MiB)`);
  console.log(`${SLOW_BODIES} slow bodies (16 MiB announced, 15 MB sent): ${JSON.stringify(slowStatuses)}; RSS ${fmt(slowBaseline / MiB)} MiB before, ${fmt(slowPeak / MiB)} MiB at most during, ${fmt(slowAfter / MiB)} MiB 60 s later`);
  const c3 = steps[`${top}_critical`];
  const s3 = steps[`${top}_sheddable`];
  console.log(
    `\nacceptance at ${top}× capacity: critical goodput ${fmt((100 * c3.goodputRps) / capacity)} % of capacity (goal ≥ 90 %), critical p99 TTFT ${fmt(c3.p99 / unloaded.p99, 2)}× the idle fleet's p99 (goal ≤ 2×) and ${fmt(c3.p99 / alone.p99, 2)}× critical alone at the same rate, sheddable 429s ${s3.s429}; peak RSS ${fmt(peakRss / MiB)} MiB (goal < 400); slow-body RSS +${fmt((slowAfter - slowBaseline) / MiB)} MiB after 60 s (goal < 100)`,
  );
  const json: Record<string, number | string | null> = {
    replicas: REPLICAS,
    max_num_seqs: MAX_NUM_SEQS,
    capacity_rps: +capacity.toFixed(2),
    unloaded_ttft_p50_ms: +unloaded.p50.toFixed(1),
    unloaded_ttft_p99_ms: +unloaded.p99.toFixed(1),
    critical_alone_rps: +(alone.offered / STEP_S).toFixed(2),
    critical_alone_goodput_rps: +alone.goodputRps.toFixed(2),
    critical_alone_ttft_p50_ms: +fmt(alone.p50, 1),
    critical_alone_ttft_p99_ms: +fmt(alone.p99, 1),
  };
  for (const [k, s] of Object.entries(steps)) {
    const key = k.replace('.', '_');
    json[`step_${key}_goodput_rps`] = +s.goodputRps.toFixed(2);
    json[`step_${key}_ttft_p50_ms`] = +fmt(s.p50, 1);
    json[`step_${key}_ttft_p99_ms`] = +fmt(s.p99, 1);
    json[`step_${key}_shed_429_count`] = s.s429;
    json[`step_${key}_rejected_503_count`] = s.s503;
  }
  for (const [k, d] of Object.entries(diag)) {
    json[`${k}_engine_ttft_p99_ms`] = Number.isFinite(d.engine_ttft_p99_ms) ? d.engine_ttft_p99_ms : null;
    json[`${k}_critical_queue_wait_p99_ms`] = Number.isFinite(d.critical_queue_wait_p99_ms) ? d.critical_queue_wait_p99_ms : null;
  }
  Object.assign(json, {
    critical_goodput_ratio_of_capacity: +(c3.goodputRps / capacity).toFixed(3),
    critical_ttft_p99_ratio_to_unloaded: +(c3.p99 / unloaded.p99).toFixed(2),
    critical_ttft_p99_ratio_to_alone: +(c3.p99 / alone.p99).toFixed(2),
    clients_concurrent_count: CONCURRENT_CLIENTS,
    clients_served_count: crowd.ok,
    gateway_peak_rss_bytes: peakRss,
    slow_body_baseline_rss_bytes: slowBaseline,
    slow_body_peak_rss_bytes: Math.round(slowPeak),
    slow_body_rss_after_60s_bytes: slowAfter,
  });
  console.log(JSON.stringify(json));
} finally {
  sampling = false;
  await agent.close().catch(() => undefined);
  await stopProcess(gw.child);
  await Promise.all(sims.map((s) => stopProcess(s.child)));
}
