// npm run bench:epp — the ext_proc round trip (stream: headers + 2 KB body → destination headers
// + body back) at a paced 1,000 request-streams/s, and the added latency of a 220 KB body.
// The EPP runs in its own process; this process is the Envoy-like client. Besides the round
// trip it reads, for the paced phase, the EPP's CPU time per stream (/proc, robust when other work
// shares the machine) and its event-loop delay (perf_hooks, through a preloaded probe).
// Side by side: `tsx bench/epp.ts [repo-root …]` runs each checkout's compiled EPP in turn,
// BENCH_ROUNDS times (default 1), against the same upstreams (default: this checkout). The floor
// runs first, through the same client: a bare grpc-js ext_proc server (bench/fixtures/
// bare-extproc.mjs) that answers with the same messages and does no work of its own — what a
// round trip costs on this machine before kvgate does anything (BENCH_FLOOR=0 skips it).
// BENCH_EPP_ARGS adds flags to the EPP (e.g. "--health-interval 0": probes off).
// The client (BENCH_EPP_CLIENT): `h2` (default) speaks gRPC over node:http2 with each stream's
// messages serialized once, so the client costs about what Envoy's C++ does next to the server
// (200 µs of CPU per stream here, against ~600 µs for a grpc-js client, whose own event loop then
// sits in every round trip it measures); `grpc-js` is the full grpc-js client.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { build } from 'hdr-histogram-js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { stopProcess, printTable, repoRoot } from './lib.js';

const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const CLIENT = process.env.BENCH_EPP_CLIENT ?? 'h2';
if (CLIENT !== 'h2' && CLIENT !== 'grpc-js') throw new Error(`BENCH_EPP_CLIENT must be h2 or grpc-js, not ${CLIENT}`);
const def = protoLoader.loadSync('envoy_ext_proc_client.proto', { keepCase: true, longs: Number, enums: Number, oneofs: true, includeDirs: [join(repoRoot, 'test/fixtures/extproc-client')] });
type Client = grpc.Client & { Process: () => grpc.ClientDuplexStream<unknown, Record<string, unknown>> };
const Ctor = (grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { ext_proc: { v3: { ExternalProcessor: new (a: string, c: grpc.ChannelCredentials) => Client } } } } }).envoy.service.ext_proc.v3.ExternalProcessor;

const hv = (key: string, value: string) => ({ key, raw_value: Buffer.from(value) });
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (1/100 s)
};
interface EventLoopDelay {
  p50_us: number;
  p99_us: number;
  max_us: number;
  /** Garbage-collection pauses in the same phase. */
  gc: { count: number; total_ms: number; max_ms: number };
}
interface Result {
  root: string;
  achieved: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUsPerStream: number;
  eld: EventLoopDelay;
  small: number;
  big: number;
  /** The client's own event-loop lateness p99 in the paced phase, µs: time every round trip it measures may include. */
  clientEldP99: number;
}

/** The root that stands for the bare grpc-js floor in `measure`. */
const FLOOR = 'bare grpc-js (floor)';

function startEpp(root: string, endpoints: string): Promise<{ child: ChildProcess; url: string }> {
  const args = ['epp', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--secure-serving=false', '--endpoints', endpoints, '--preset', 'gie-default', '--log-level', 'warn', ...(process.env.BENCH_EPP_ARGS?.split(' ').filter(Boolean) ?? [])];
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-interval=${process.env.BENCH_CPU_PROF_INTERVAL_US ?? 1000}`] : [];
  const probe = new URL('./fixtures/event-loop-probe.mjs', import.meta.url).href;
  const main = root === FLOOR ? [join(repoRoot, 'bench/fixtures/bare-extproc.mjs')] : [join(root, 'dist/cli/run.js'), ...args];
  const child = spawn(process.execPath, [...prof, ...(process.env.BENCH_EPP_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), '--import', probe, ...main], {
    cwd: root === FLOOR ? repoRoot : root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, KVGATE_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = /ext_proc (127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // BENCH_EPP_LOG=<file> keeps the EPP's output (e.g. with BENCH_EPP_NODE_FLAGS=--trace-gc).
    const log = process.env.BENCH_EPP_LOG;
    if (log) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => appendFileSync(log, d));
    child.on('exit', (c) => reject(new Error(`epp exited ${c}: ${out}`)));
  });
}

function eventLoopDelay(child: ChildProcess): Promise<EventLoopDelay> {
  return new Promise((resolve) => {
    child.once('message', (m: { eld: EventLoopDelay }) => resolve(m.eld));
    child.send('eld:report');
  });
}

const mk = (bytes: number, i: number) => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'system', content: `group ${i % 20} `.padEnd(bytes - 100, 'x') }, { role: 'user', content: `q${i}` }] }));

type RoundTrip = (body: Buffer) => Promise<number>;
const HEADERS_MSG = { request_headers: { headers: { headers: [hv(':path', '/v1/chat/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } };
type ProcessResponse = Record<string, { response?: { body_mutation?: { streamed_response?: { end_of_stream?: boolean } } } }> & { immediate_response?: unknown };

/** The grpc-js client: one duplex call per request stream. */
function grpcJsClient(url: string): { roundTrip: RoundTrip; close(): void } {
  const client = new Ctor(url, grpc.credentials.createInsecure());
  const roundTrip: RoundTrip = (body) =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const s = client.Process();
      s.on('data', (r: ProcessResponse) => {
        if (r.immediate_response) return reject(new Error('immediate response'));
        if (r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream) {
          const us = Number(process.hrtime.bigint() - t0) / 1000;
          s.end();
          resolve(us);
        }
      });
      s.on('error', reject);
      s.write(HEADERS_MSG);
      for (let off = 0; off < body.length; off += 64 * 1024) s.write({ request_body: { body: body.subarray(off, off + 64 * 1024), end_of_stream: off + 64 * 1024 >= body.length } });
    });
  return { roundTrip, close: () => client.close() };
}

/** gRPC over node:http2 (length-prefixed protobuf messages, serialized with the same proto): an Envoy-weight client. */
function h2Client(url: string): { roundTrip: RoundTrip; close(): void } {
  const method = (Ctor as unknown as { service: { Process: { requestSerialize(m: unknown): Buffer; responseDeserialize(b: Buffer): ProcessResponse } } }).service.Process;
  const frame = (m: unknown) => {
    const p = method.requestSerialize(m);
    const b = Buffer.allocUnsafe(5 + p.length);
    b[0] = 0;
    b.writeUInt32BE(p.length, 1);
    p.copy(b, 5);
    return b;
  };
  const headersFrame = frame(HEADERS_MSG);
  const session = http2.connect(`http://${url}`);
  session.on('error', () => undefined); // the server going away at the end of a measure (streams report their own errors)
  const roundTrip: RoundTrip = (body) =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const s = session.request({ ':method': 'POST', ':path': '/envoy.service.ext_proc.v3.ExternalProcessor/Process', 'content-type': 'application/grpc', te: 'trailers' });
      let buf: Buffer = Buffer.alloc(0);
      let done = false;
      s.on('data', (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const n = buf.readUInt32BE(1);
          const r = method.responseDeserialize(buf.subarray(5, 5 + n));
          buf = buf.subarray(5 + n);
          if (r.immediate_response) return reject(new Error('immediate response'));
          if (!done && r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream) {
            done = true;
            resolve(Number(process.hrtime.bigint() - t0) / 1000);
            s.end();
          }
        }
      });
      s.on('error', reject);
      s.on('close', () => done || reject(new Error('stream closed before the body came back')));
      s.write(headersFrame);
      for (let off = 0; off < body.length; off += 64 * 1024) s.write(frame({ request_body: { body: body.subarray(off, off + 64 * 1024), end_of_stream: off + 64 * 1024 >= body.length } }));
    });
  return { roundTrip, close: () => session.close() };
}

async function measure(root: string, endpoints: string): Promise<Result> {
  const { child, url } = await startEpp(root, endpoints);
  const client = CLIENT === 'h2' ? h2Client(url) : grpcJsClient(url);
  const roundTrip = client.roundTrip;
  try {
    for (let i = 0; i < 500; i++) await roundTrip(mk(2048, i)); // warm-up
    const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    let errors = 0;
    const total = RATE * SECONDS;
    child.send('eld:reset');
    const clientEld = monitorEventLoopDelay({ resolution: 5 });
    clientEld.enable();
    const ticks0 = cpuTicks(child.pid!);
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(roundTrip(mk(2048, i)).then((us) => void hist.recordValue(Math.max(1, Math.round(us))), () => void errors++));
    }
    await Promise.all(pending);
    clientEld.disable();
    // Less the timer's own 5 ms period, as the EPP's probe reports it.
    const clientEldP99 = Math.max(0, clientEld.percentile(99) / 1000 - 5000);
    const achieved = total / ((performance.now() - t0) / 1000);
    const cpuUsPerStream = ((cpuTicks(child.pid!) - ticks0) * 10_000) / total;
    const eld = await eventLoopDelay(child);
    const small: number[] = [];
    const big: number[] = [];
    for (let i = 0; i < 30; i++) {
      small.push(await roundTrip(mk(2048, i)));
      big.push(await roundTrip(mk(220 * 1024, i)));
    }
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return { root, achieved, p50: hist.getValueAtPercentile(50), p99: hist.getValueAtPercentile(99), errors, cpuUsPerStream, eld, small: med(small), big: med(big), clientEldP99 };
  } finally {
    client.close();
    await stopProcess(child);
  }
}

const roots = process.argv.slice(2).length ? process.argv.slice(2) : [repoRoot];
// Ten endpoints that answer /metrics, /health and /v1/models, so the EPP scrapes and probes real sockets as in a cluster.
const upstreams = spawn(process.execPath, [join(repoRoot, 'bench/fixtures/metrics-upstreams.mjs'), '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
const endpoints = await new Promise<string>((resolve) => upstreams.stdout!.once('data', (d) => resolve(d.toString().trim())));
try {
  const results: Result[] = [];
  const floor = process.env.BENCH_FLOOR === '0' ? undefined : await measure(FLOOR, endpoints);
  for (let round = 0; round < ROUNDS; round++) for (const root of roots) results.push(await measure(root, endpoints));
  console.log(`\next_proc round trip (headers + 2 KB body → routed headers + body), paced ${RATE}/s for ${SECONDS} s, 10 endpoints, gie-default, ${CLIENT} client`);
  const shown = floor ? [...results, floor] : results;
  const col = (f: (r: Result) => string | number) => shown.map(f);
  printTable([
    ['measure', ...col((r) => (r.root === FLOOR ? FLOOR : roots.length > 1 ? r.root : 'kvgate epp'))],
    ['offered streams/s', ...col(() => RATE)],
    ['achieved streams/s', ...col((r) => r.achieved.toFixed(0))],
    ['p50 µs', ...col((r) => r.p50)],
    ['p99 µs', ...col((r) => r.p99)],
    ['errors', ...col((r) => r.errors)],
    ['EPP CPU µs / stream', ...col((r) => r.cpuUsPerStream.toFixed(0))],
    ['EPP event-loop delay p99 / max µs', ...col((r) => `${r.eld.p99_us.toFixed(0)} / ${r.eld.max_us.toFixed(0)}`)],
    ['client event-loop delay p99 µs', ...col((r) => r.clientEldP99.toFixed(0))],
    ['EPP GC pauses: n / sum / max ms', ...col((r) => `${r.eld.gc.count} / ${r.eld.gc.total_ms.toFixed(0)} / ${r.eld.gc.max_ms.toFixed(1)}`)],
    ['serial 2 KB p50 µs', ...col((r) => r.small.toFixed(0))],
    ['serial 220 KB p50 µs', ...col((r) => r.big.toFixed(0))],
    ['220 KB added vs 2 KB ms', ...col((r) => ((r.big - r.small) / 1000).toFixed(2))],
  ]);
  if (floor) console.log(`p99 / floor's p99: ${results.map((r) => (r.p99 / floor.p99).toFixed(2)).join(', ')}; p50 / floor's p50: ${results.map((r) => (r.p50 / floor.p50).toFixed(2)).join(', ')}`);
  console.log('reference: llm-d\'s Go EPP reports > 1 s added TTFT for 220 KB prompts at concurrency 150');
  const json = (r: Result) => ({
    offered_rps: RATE,
    achieved_rps: Math.round(r.achieved),
    roundtrip_p50_us: r.p50,
    roundtrip_p99_us: r.p99,
    errors: r.errors,
    epp_cpu_us_per_stream: Math.round(r.cpuUsPerStream),
    epp_event_loop_delay_p99_us: Math.round(r.eld.p99_us),
    epp_event_loop_delay_max_us: Math.round(r.eld.max_us),
    client_event_loop_delay_p99_us: Math.round(r.clientEldP99),
    epp_gc_pauses: r.eld.gc.count,
    epp_gc_pause_total_ms: +r.eld.gc.total_ms.toFixed(1),
    epp_gc_pause_max_ms: +r.eld.gc.max_ms.toFixed(2),
    serial_2kb_p50_us: Math.round(r.small),
    body_220kb_p50_ms: +(r.big / 1000).toFixed(3),
    body_220kb_added_ms: +((r.big - r.small) / 1000).toFixed(3),
  });
  const floorKeys = floor
    ? { floor_roundtrip_p50_us: floor.p50, floor_roundtrip_p99_us: floor.p99, floor_cpu_us_per_stream: Math.round(floor.cpuUsPerStream), floor_event_loop_delay_p99_us: Math.round(floor.eld.p99_us) }
    : {};
  const ratio = (r: Result) => (floor ? { roundtrip_p99_vs_floor_ratio: +(r.p99 / floor.p99).toFixed(2) } : {});
  console.log(JSON.stringify({ client: CLIENT, ...(results.length === 1 ? { ...json(results[0]), ...ratio(results[0]), ...floorKeys } : { results: results.map((r) => ({ root: r.root, ...json(r), ...ratio(r) })), ...floorKeys }) }));
} finally {
  await stopProcess(upstreams);
}
