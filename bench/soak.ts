// npm run soak — kvgate serve under steady mixed traffic for 30 minutes (SOAK_MINUTES), printing
// the gateway's RSS every minute: streamed and non-streamed completions, critical and sheddable,
// clients that go away mid-request, and every minute a few slow bodies that time out. A flat curve
// means nothing accumulates. Not part of CI. Ends with one JSON line (units in the keys).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { repoRoot, stopProcess } from './lib.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 48);
const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const proc = (pid: number, key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

function startCli(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/run.js'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (c) => reject(new Error(`kvgate ${args[0]} exited ${c}: ${out}`)));
  });
}

const sims = await Promise.all([0, 1].map(() => startCli(['sim', '--port', '0', '--profile', 'qwen2.5-3b-tpu-v6e', '--max-num-seqs', '16'])));
const gw = await startCli([
  'serve',
  '--endpoints',
  sims.map((s) => s.url).join(','),
  '--port',
  '0',
  '--no-access-log',
  '--log-level',
  'error',
  '--trust-routing-headers',
  '--objective',
  'critical=10',
  '--objective',
  'sheddable=-1',
  '--request-body-idle-timeout',
  '2s',
]);
const agent = new Agent({ connections: null, keepAliveTimeout: 10_000 });
const counts: Record<string, number> = {};
const count = (k: string) => void (counts[k] = (counts[k] ?? 0) + 1);
let running = true;

async function client(i: number): Promise<void> {
  let n = 0;
  while (running) {
    n++;
    const stream = (i + n) % 2 === 0;
    const cls = (i + n) % 3 === 0 ? 'sheddable' : 'critical';
    const abandon = n % 25 === 0;
    const ac = new AbortController();
    if (abandon) setTimeout(() => ac.abort(), 30 + (n % 200));
    try {
      const r = await request(`${gw.url}/v1/completions`, {
        method: 'POST',
        dispatcher: agent,
        signal: ac.signal,
        headers: { 'content-type': 'application/json', 'x-gateway-inference-objective': cls },
        body: JSON.stringify({ model: MODEL, prompt: `soak ${i} ${n} ${'lorem ipsum '.repeat(20 + (n % 50))}`, max_tokens: 8 + (n % 40), stream }),
      });
      await r.body.dump({ limit: Infinity });
      count(String(r.statusCode));
      if (r.statusCode !== 200) await sleep(100);
    } catch {
      count(abandon ? 'abandoned' : 'error');
    }
  }
}

function slowBodies(k: number): Promise<void> {
  const u = new URL(gw.url);
  return Promise.all(
    Array.from(
      { length: k },
      () =>
        new Promise<void>((resolve) => {
          const s = connect(Number(u.port), u.hostname, () => {
            s.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${4 * MiB}\r\n\r\n`);
            s.write(Buffer.alloc(2 * MiB, 'a'));
          });
          s.on('data', () => undefined);
          s.on('error', () => undefined);
          s.on('close', () => {
            count('slow-body closed');
            resolve();
          });
        }),
    ),
  ).then(() => undefined);
}

const pid = gw.child.pid!;
const curve: number[] = [];
try {
  const workers = Array.from({ length: CLIENTS }, (_, i) => client(i));
  console.log(`soak: ${MINUTES} min, ${CLIENTS} clients, 2 × kvgate sim (max_num_seqs 16) behind ${gw.url}`);
  console.log('minute  rss MiB  peak MiB  requests so far');
  const t0 = performance.now();
  for (let m = 1; m <= MINUTES; m++) {
    void slowBodies(5);
    await sleep(Math.max(0, t0 + m * 60_000 - performance.now()));
    const rss = proc(pid, 'VmRSS');
    curve.push(rss);
    const total = Object.entries(counts).reduce((a, [, v]) => a + v, 0);
    console.log(`${String(m).padStart(6)}  ${(rss / MiB).toFixed(1).padStart(7)}  ${(proc(pid, 'VmHWM') / MiB).toFixed(1).padStart(8)}  ${total}`);
  }
  running = false;
  await Promise.all(workers);
  console.log(`outcomes: ${JSON.stringify(counts)}`);
  const firstAfterWarmup = curve[Math.min(1, curve.length - 1)];
  console.log(
    JSON.stringify({
      minutes: MINUTES,
      clients: CLIENTS,
      rss_bytes_by_minute: curve,
      rss_growth_after_first_minute_bytes: curve.at(-1)! - firstAfterWarmup,
      peak_rss_bytes: proc(pid, 'VmHWM'),
      requests_count: Object.values(counts).reduce((a, b) => a + b, 0),
    }),
  );
} finally {
  running = false;
  await agent.close().catch(() => undefined);
  await stopProcess(gw.child);
  await Promise.all(sims.map((s) => stopProcess(s.child)));
}
