// npm run bench:gateway — the proxy's own cost, side by side in one run: tiny non-streamed
// requests against an instant upstream, direct, through `kvgate serve` and through nginx.
// BENCH_ROUNDS rounds (default 3) of the three rows in turn: the ratio is the median of the
// rounds' ratios (one 8 s row moves by ±8 % on this shared 2-core machine). Beside it, the
// gateway's CPU time per request (/proc), which the other processes' load moves much less.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKvgateProcess, stopProcess, printTable, repoRoot } from './lib.js';
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

const upstream = await startNode('bench/fixtures/instant-upstream.mjs', []);
const kv = await startKvgateProcess(['serve', '--endpoints', upstream.url, '--port', '0', '--no-access-log', '--log-level', 'warn'], /listening on (http:\/\/\S+)/);
await new Promise((r) => setTimeout(r, 1500)); // first health probe
const nginxBin = findNginx();
const ng = nginxBin ? await startNginx(nginxBin, upstream.url) : undefined;
const path = '/v1/completions';
try {
  const runs: Record<string, LoadResult[]> = { direct: [], kvgate: [], ...(ng ? { nginx: [] } : {}) };
  const ratios: number[] = [];
  const cpuUs: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    runs.direct.push(await load(upstream.url + path, CONNS, 2048));
    const t0 = cpuTicks(kv.child.pid!);
    const k = await load(kv.url + path, CONNS, 2048);
    cpuUs.push(((cpuTicks(kv.child.pid!) - t0) * 10_000) / Math.max(1, k.sent));
    runs.kvgate.push(k);
    if (ng) {
      const n = await load(ng.url + path, CONNS, 2048);
      runs.nginx.push(n);
      ratios.push(k.rps / n.rps);
    }
    console.log(`round ${round}/${ROUNDS}: direct ${runs.direct.at(-1)!.rps.toFixed(0)}, kvgate ${k.rps.toFixed(0)} (${cpuUs.at(-1)!.toFixed(1)} µs CPU/request)${ng ? `, nginx ${runs.nginx.at(-1)!.rps.toFixed(0)} req/s → ratio ${ratios.at(-1)!.toFixed(3)}` : ''}`);
  }
  const rows = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, medianRun(v)]));
  const serialDirect = await load(upstream.url + path, 1, 2048, true);
  const serialKv = await load(kv.url + path, 1, 2048, true);
  const bigDirect = await load(upstream.url + path, 1, 200 * 1024, true);
  const bigKv = await load(kv.url + path, 1, 200 * 1024, true);
  console.log(`\ngateway overhead — POST 2 KB → 1 KB JSON, ${CONNS} connections, ${DURATION_MS / 1000} s per row, median of ${ROUNDS} rounds, 2 cores shared by load, proxy and upstream`);
  printTable([
    ['path', 'req/s', 'p50 µs', 'p99 µs', 'errors'],
    ...Object.entries(rows).map(([k, v]) => [k, v.rps.toFixed(0), v.p50_us, v.p99_us, v.errors]),
  ]);
  const ratio = ng ? median(ratios) : NaN;
  console.log(`\nkvgate / nginx req/s: ${ng ? `${ratio.toFixed(2)} (median of rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})` : 'n/a (nginx not found)'}   kvgate / direct: ${(rows.kvgate.rps / rows.direct.rps).toFixed(2)}`);
  console.log(`kvgate CPU per request: ${median(cpuUs).toFixed(1)} µs (median of rounds: ${cpuUs.map((c) => c.toFixed(1)).join(', ')})`);
  console.log(`added p50, serial 2 KB: ${serialKv.p50_us - serialDirect.p50_us} µs (direct ${serialDirect.p50_us}, kvgate ${serialKv.p50_us})`);
  console.log(`added p50, serial 200 KB prompt: ${bigKv.p50_us - bigDirect.p50_us} µs (direct ${bigDirect.p50_us}, kvgate ${bigKv.p50_us})`);
  console.log('goals: kvgate ≥ 0.8× nginx req/s; added p50 ≤ 300 µs');
  console.log(
    JSON.stringify({
      direct_rps: Math.round(rows.direct.rps),
      kvgate_rps: Math.round(rows.kvgate.rps),
      nginx_rps: ng ? Math.round(rows.nginx.rps) : null,
      kvgate_vs_nginx_ratio: ng ? +ratio.toFixed(3) : null,
      kvgate_vs_nginx_ratio_per_round: ng ? ratios.map((r) => +r.toFixed(3)) : null,
      kvgate_cpu_us_per_request: +median(cpuUs).toFixed(1),
      kvgate_vs_direct_ratio: +(rows.kvgate.rps / rows.direct.rps).toFixed(3),
      direct_p50_us: rows.direct.p50_us,
      kvgate_p50_us: rows.kvgate.p50_us,
      kvgate_p99_us: rows.kvgate.p99_us,
      nginx_p50_us: ng ? rows.nginx.p50_us : null,
      nginx_p99_us: ng ? rows.nginx.p99_us : null,
      added_p50_us: serialKv.p50_us - serialDirect.p50_us,
      added_200kb_p50_us: bigKv.p50_us - bigDirect.p50_us,
      errors: Object.values(runs).flat().reduce((a, r) => a + r.errors, 0),
    }),
  );
} finally {
  await stopProcess(kv.child);
  if (ng) await stopProcess(ng.child);
  await stopProcess(upstream.child);
}
