// npm run bench:gateway — the proxy's own cost, side by side in one run: tiny non-streamed
// requests against an instant upstream, direct, through a bare Node proxy (the floor), through
// `kvgate serve` and through nginx. BENCH_ROUNDS rounds (default 3) of the rows in turn: the ratio
// is the median of the rounds' ratios (one 8 s row moves by ±8 % on this shared 2-core machine).
// Beside it, the gateway's CPU time per request (/proc), which the other processes' load moves
// much less.
// Side by side: `tsx bench/gateway.ts [repo-root …]` runs each checkout's compiled `serve` as its
// own row in every round (default: this checkout), so a change is compared with an older build on
// the same machine in the same minutes. The floor (bench/fixtures/bare-proxy.mjs: node:http +
// JSON.parse + undici, nothing else) shows what Node's HTTP stack costs here before kvgate does
// anything; BENCH_FLOOR=0 skips it.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKvgateProcess, stopProcess, printTable, repoRoot } from './lib.js';
import { resolve } from 'node:path';
import { createServer } from 'node:net';

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 8000);
const CONNS = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

type LoadResult = { rps: number; p50_us: number; p99_us: number; errors: number; sent: number };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The run whose req/s is the median of `runs`. */
const medianRun = (runs: LoadResult[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)];
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, 1/100 s
};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function startNode(script: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(repoRoot, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve({ child, url: d.toString().trim() }));
    child.on('exit', (c) => reject(new Error(`${script} exited ${c}`)));
  });
}

function load(url: string, conns: number, bodyBytes: number, serial = false): Promise<LoadResult> {
  const child = spawn(process.execPath, [join(repoRoot, 'bench/fixtures/load.mjs'), url, String(conns), String(DURATION_MS), String(bodyBytes), serial ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => child.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load exited ${c}`)))));
}

function findNginx(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  if (process.getuid?.() === 0) {
    try {
      console.log('installing nginx (apt-get)…');
      execFileSync('apt-get', ['install', '-y', '-qq', 'nginx-light'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      return findNginx();
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function startNginx(bin: string, upstream: string): Promise<{ child: ChildProcess; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  client_max_body_size 16m;
  client_body_buffer_size 512k;
  upstream llm { server ${upstream.replace('http://', '')}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://llm; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
  );
  const child = spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  return { child, url: `http://127.0.0.1:${port}` };
}

const roots = process.argv.slice(2).length ? process.argv.slice(2).map((r) => resolve(r)) : [repoRoot];
const upstream = await startNode('bench/fixtures/instant-upstream.mjs', []);
const floor = process.env.BENCH_FLOOR === '0' ? undefined : await startNode('bench/fixtures/bare-proxy.mjs', [upstream.url]);
const kvs: { root: string; child: ChildProcess; url: string }[] = [];
for (const root of roots) kvs.push({ root, ...(await startKvgateProcess(['serve', '--endpoints', upstream.url, '--port', '0', '--no-access-log', '--log-level', 'warn'], /listening on (http:\/\/\S+)/, [], root)) });
await new Promise((r) => setTimeout(r, 1500)); // first health probe
const nginxBin = findNginx();
const ng = nginxBin ? await startNginx(nginxBin, upstream.url) : undefined;
const path = '/v1/completions';
/** A kvgate row's label: "kvgate", or its checkout when several are compared. */
const label = (root: string) => (roots.length > 1 ? `kvgate ${root}` : 'kvgate');
try {
  const runs: Record<string, LoadResult[]> = { direct: [], ...(floor ? { 'bare node proxy (floor)': [] } : {}), ...Object.fromEntries(roots.map((r) => [label(r), []])), ...(ng ? { nginx: [] } : {}) };
  const ratios = roots.map((): number[] => []);
  const floorRatios = roots.map((): number[] => []);
  const cpuUs = roots.map((): number[] => []);
  const floorCpuUs: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    runs.direct.push(await load(upstream.url + path, CONNS, 2048));
    const f0 = floor ? cpuTicks(floor.child.pid!) : 0;
    const f = floor ? await load(floor.url + path, CONNS, 2048) : undefined;
    if (f && floor) {
      runs['bare node proxy (floor)'].push(f);
      floorCpuUs.push(((cpuTicks(floor.child.pid!) - f0) * 10_000) / Math.max(1, f.sent));
    }
    const ks: LoadResult[] = [];
    for (const [i, kv] of kvs.entries()) {
      const t0 = cpuTicks(kv.child.pid!);
      const k = await load(kv.url + path, CONNS, 2048);
      cpuUs[i].push(((cpuTicks(kv.child.pid!) - t0) * 10_000) / Math.max(1, k.sent));
      runs[label(kv.root)].push(k);
      if (f) floorRatios[i].push(k.rps / f.rps);
      ks.push(k);
    }
    const n = ng ? await load(ng.url + path, CONNS, 2048) : undefined;
    if (n) {
      runs.nginx.push(n);
      ks.forEach((k, i) => ratios[i].push(k.rps / n.rps));
    }
    const kText = kvs.map((kv, i) => `${label(kv.root)} ${ks[i].rps.toFixed(0)} (${cpuUs[i].at(-1)!.toFixed(1)} µs CPU/request)`).join(', ');
    console.log(`round ${round}/${ROUNDS}: direct ${runs.direct.at(-1)!.rps.toFixed(0)}, ${f ? `floor ${f.rps.toFixed(0)} (${floorCpuUs.at(-1)!.toFixed(1)} µs), ` : ''}${kText}${n ? `, nginx ${n.rps.toFixed(0)} req/s → ratio ${ratios.map((r) => r.at(-1)!.toFixed(3)).join(' / ')}` : ''}`);
  }
  const rows = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, medianRun(v)]));
  const serialDirect = await load(upstream.url + path, 1, 2048, true);
  const serialKv = await load(kvs[0].url + path, 1, 2048, true);
  const bigDirect = await load(upstream.url + path, 1, 200 * 1024, true);
  const bigKv = await load(kvs[0].url + path, 1, 200 * 1024, true);
  console.log(`\ngateway overhead — POST 2 KB → 1 KB JSON, ${CONNS} connections, ${DURATION_MS / 1000} s per row, median of ${ROUNDS} rounds, 2 cores shared by load, proxy and upstream`);
  printTable([
    ['path', 'req/s', 'p50 µs', 'p99 µs', 'errors'],
    ...Object.entries(rows).map(([k, v]) => [k, v.rps.toFixed(0), v.p50_us, v.p99_us, v.errors]),
  ]);
  for (const [i, kv] of kvs.entries()) {
    const r = label(kv.root);
    const ratio = ng ? median(ratios[i]) : NaN;
    console.log(`\n${r} / nginx req/s: ${ng ? `${ratio.toFixed(2)} (median of rounds: ${ratios[i].map((x) => x.toFixed(2)).join(', ')})` : 'n/a (nginx not found)'}   / direct: ${(rows[r].rps / rows.direct.rps).toFixed(2)}${floor ? `   / bare node proxy: ${median(floorRatios[i]).toFixed(2)}` : ''}`);
    console.log(`${r} CPU per request: ${median(cpuUs[i]).toFixed(1)} µs (median of rounds: ${cpuUs[i].map((c) => c.toFixed(1)).join(', ')})`);
  }
  if (floor) console.log(`bare node proxy CPU per request: ${median(floorCpuUs).toFixed(1)} µs${ng ? `; / nginx req/s: ${median(runs['bare node proxy (floor)'].map((f, j) => f.rps / runs.nginx[j].rps)).toFixed(2)}` : ''} — what Node's HTTP stack costs here before kvgate's work`);
  console.log(`added p50, serial 2 KB: ${serialKv.p50_us - serialDirect.p50_us} µs (direct ${serialDirect.p50_us}, kvgate ${serialKv.p50_us})`);
  console.log(`added p50, serial 200 KB prompt: ${bigKv.p50_us - bigDirect.p50_us} µs (direct ${bigDirect.p50_us}, kvgate ${bigKv.p50_us})`);
  console.log('goals: kvgate ≥ 0.8× nginx req/s; added p50 ≤ 300 µs');
  const perRoot = (i: number) => ({
    kvgate_rps: Math.round(rows[label(kvs[i].root)].rps),
    kvgate_vs_nginx_ratio: ng ? +median(ratios[i]).toFixed(3) : null,
    kvgate_vs_nginx_ratio_per_round: ng ? ratios[i].map((r) => +r.toFixed(3)) : null,
    kvgate_vs_floor_ratio: floor ? +median(floorRatios[i]).toFixed(3) : null,
    kvgate_cpu_us_per_request: +median(cpuUs[i]).toFixed(1),
    kvgate_vs_direct_ratio: +(rows[label(kvs[i].root)].rps / rows.direct.rps).toFixed(3),
    kvgate_p50_us: rows[label(kvs[i].root)].p50_us,
    kvgate_p99_us: rows[label(kvs[i].root)].p99_us,
  });
  console.log(
    JSON.stringify({
      direct_rps: Math.round(rows.direct.rps),
      floor_rps: floor ? Math.round(rows['bare node proxy (floor)'].rps) : null,
      floor_cpu_us_per_request: floor ? +median(floorCpuUs).toFixed(1) : null,
      nginx_rps: ng ? Math.round(rows.nginx.rps) : null,
      ...perRoot(0),
      ...(kvs.length > 1 ? { results: kvs.map((kv, i) => ({ root: kv.root, ...perRoot(i) })) } : {}),
      direct_p50_us: rows.direct.p50_us,
      nginx_p50_us: ng ? rows.nginx.p50_us : null,
      nginx_p99_us: ng ? rows.nginx.p99_us : null,
      added_p50_us: serialKv.p50_us - serialDirect.p50_us,
      added_200kb_p50_us: bigKv.p50_us - bigDirect.p50_us,
      errors: Object.values(runs).flat().reduce((a, r) => a + r.errors, 0),
    }),
  );
} finally {
  for (const kv of kvs) await stopProcess(kv.child);
  if (floor) await stopProcess(floor.child);
  if (ng) await stopProcess(ng.child);
  await stopProcess(upstream.child);
}
