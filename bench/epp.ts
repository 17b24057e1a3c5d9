// npm run bench:epp — the ext_proc round trip (stream: headers + 2 KB body → destination headers
// + body back) at a paced 1,000 request-streams/s, and the added latency of a 220 KB body.
// The EPP runs in its own process; this process is the Envoy-like client.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { build } from 'hdr-histogram-js';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startKvgateProcess, stopProcess, printTable, repoRoot } from './lib.js';

const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const def = protoLoader.loadSync('envoy_ext_proc_client.proto', { keepCase: true, longs: Number, enums: Number, oneofs: true, includeDirs: [join(repoRoot, 'test/fixtures/extproc-client')] });
const Ctor = (grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { ext_proc: { v3: { ExternalProcessor: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { Process: () => grpc.ClientDuplexStream<unknown, Record<string, unknown>> } } } } } }).envoy.service.ext_proc.v3.ExternalProcessor;

const hv = (key: string, value: string) => ({ key, raw_value: Buffer.from(value) });
// Ten endpoints that answer /metrics, /health and /v1/models, so the EPP scrapes and probes real sockets as in a cluster.
const upstreams = spawn(process.execPath, [join(repoRoot, 'bench/fixtures/metrics-upstreams.mjs'), '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
const endpoints = await new Promise<string>((resolve) => upstreams.stdout!.once('data', (d) => resolve(d.toString().trim())));
const { child, url } = await startKvgateProcess(['epp', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--secure-serving=false', '--endpoints', endpoints, '--preset', 'gie-default', '--log-level', 'warn'], /ext_proc (127\.0\.0\.1:\d+)/);
const client = new Ctor(url, grpc.credentials.createInsecure());

function roundTrip(body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = client.Process();
    s.on('data', (r: Record<string, { response?: { body_mutation?: { streamed_response?: { end_of_stream?: boolean } } } } & { immediate_response?: unknown }>) => {
      if (r.immediate_response) return reject(new Error('immediate response'));
      if (r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream) {
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        s.end();
        resolve(us);
      }
    });
    s.on('error', reject);
    s.write({ request_headers: { headers: { headers: [hv(':path', '/v1/chat/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } });
    for (let off = 0; off < body.length; off += 64 * 1024) s.write({ request_body: { body: body.subarray(off, off + 64 * 1024), end_of_stream: off + 64 * 1024 >= body.length } });
  });
}

const mk = (bytes: number, i: number) => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'system', content: `group ${i % 20} `.padEnd(bytes - 100, 'x') }, { role: 'user', content: `q${i}` }] }));
try {
  for (let i = 0; i < 500; i++) await roundTrip(mk(2048, i)); // warm-up
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let errors = 0;
  const total = RATE * SECONDS;
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(roundTrip(mk(2048, i)).then((us) => void hist.recordValue(Math.max(1, Math.round(us))), () => void errors++));
  }
  await Promise.all(pending);
  const achieved = total / ((performance.now() - t0) / 1000);
  const small: number[] = [];
  const big: number[] = [];
  for (let i = 0; i < 30; i++) {
    small.push(await roundTrip(mk(2048, i)));
    big.push(await roundTrip(mk(220 * 1024, i)));
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\next_proc round trip (headers + 2 KB body → routed headers + body), paced ${RATE}/s for ${SECONDS} s, 10 endpoints, gie-default`);
  printTable([
    ['measure', 'value'],
    ['offered streams/s', RATE],
    ['achieved streams/s', achieved.toFixed(0)],
    ['p50 µs', hist.getValueAtPercentile(50)],
    ['p99 µs', hist.getValueAtPercentile(99)],
    ['errors', errors],
    ['serial 2 KB p50 µs', med(small).toFixed(0)],
    ['serial 220 KB p50 µs', med(big).toFixed(0)],
    ['220 KB added vs 2 KB ms', ((med(big) - med(small)) / 1000).toFixed(2)],
  ]);
  console.log('reference: llm-d\'s Go EPP reports > 1 s added TTFT for 220 KB prompts at concurrency 150');
  console.log(
    JSON.stringify({
      offered_rps: RATE,
      achieved_rps: Math.round(achieved),
      roundtrip_p50_us: hist.getValueAtPercentile(50),
      roundtrip_p99_us: hist.getValueAtPercentile(99),
      errors,
      serial_2kb_p50_us: Math.round(med(small)),
      body_220kb_p50_ms: +(med(big) / 1000).toFixed(3),
      body_220kb_added_ms: +((med(big) - med(small)) / 1000).toFixed(3),
    }),
  );
} finally {
  client.close();
  await stopProcess(child);
  await stopProcess(upstreams);
}
