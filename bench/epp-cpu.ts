// CPU time the EPP process spends per ext_proc request stream (headers + 2 KB body → routed),
// read from /proc/<pid>/stat around a fixed number of streams at a fixed concurrency. Unlike a
// latency percentile it barely moves when other work shares the machine, so two builds can be
// compared side by side: `tsx bench/epp-cpu.ts [repo-root …]` (default: this checkout).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printTable, repoRoot, stopProcess } from './lib.js';

const STREAMS = Number(process.env.BENCH_STREAMS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const def = protoLoader.loadSync('envoy_ext_proc_client.proto', { keepCase: true, longs: Number, enums: Number, oneofs: true, includeDirs: [join(repoRoot, 'test/fixtures/extproc-client')] });
type Client = grpc.Client & { Process: () => grpc.ClientDuplexStream<unknown, Record<string, { response?: { body_mutation?: { streamed_response?: { end_of_stream?: boolean } } } }>> };
const Ctor = (grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { ext_proc: { v3: { ExternalProcessor: new (a: string, c: grpc.ChannelCredentials) => Client } } } } }).envoy.service.ext_proc.v3.ExternalProcessor;
const hv = (key: string, value: string) => ({ key, raw_value: Buffer.from(value) });

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (1/100 s)
};

async function measure(root: string): Promise<{ usPerStream: number; rss: number }> {
  const endpoints = Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:8000`).join(',');
  const args = [join(root, 'dist/cli/run.js'), 'epp', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--secure-serving=false', '--endpoints', endpoints, '--preset', 'gie-default', '--log-level', 'warn'];
  // Builds since the pool runtime probe endpoints' /health; these addresses do not exist.
  if (existsSync(join(root, 'dist/datalayer/pool-runtime.js'))) args.push('--health-interval', '0');
  const child: ChildProcess = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ext_proc (127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (c) => reject(new Error(`epp exited ${c}`)));
  });
  const client = new Ctor(url, grpc.credentials.createInsecure());
  const body = (i: number) => Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'system', content: `group ${i % 20} `.padEnd(1950, 'x') }, { role: 'user', content: `q${i}` }] }));
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const s = client.Process();
      s.on('data', (r) => {
        if (r.immediate_response) return reject(new Error('immediate response'));
        if (r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream) {
          s.end();
          resolve();
        }
      });
      s.on('error', reject);
      s.write({ request_headers: { headers: { headers: [hv(':path', '/v1/chat/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } });
      s.write({ request_body: { body: body(i), end_of_stream: true } });
    });
  const run = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await one(next++);
    }));
  };
  try {
    await run(2000); // warm-up (JIT)
    const t0 = cpuTicks(child.pid!);
    await run(STREAMS);
    const ticks = cpuTicks(child.pid!) - t0;
    const rss = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
    return { usPerStream: (ticks * 10_000) / STREAMS, rss };
  } finally {
    client.close();
    await stopProcess(child);
  }
}

const roots = process.argv.slice(2).length ? process.argv.slice(2) : [repoRoot];
const rows: (string | number)[][] = [['build', 'EPP CPU µs / stream', 'peak RSS MB']];
const results: { root: string; usPerStream: number; rss: number }[] = [];
for (const root of roots) {
  const r = await measure(root);
  results.push({ root, ...r });
  rows.push([root, r.usPerStream.toFixed(0), (r.rss / 1e6).toFixed(0)]);
}
console.log(`\next_proc CPU per request stream, ${STREAMS} streams at concurrency ${CONCURRENCY}, 2 KB chat bodies, 10 endpoints, gie-default`);
printTable(rows);
console.log(JSON.stringify({ streams: STREAMS, concurrency: CONCURRENCY, results: results.map((r) => ({ root: r.root, cpu_us_per_stream: Math.round(r.usPerStream), peak_rss_bytes: r.rss })) }));
