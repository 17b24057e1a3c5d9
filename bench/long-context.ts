// npm run bench:long-context — what precise prefix routing costs the gateway on long agentic
// contexts. Multi-turn sessions whose prompts grow to ~100k tokens (~400 KB bodies): each turn
// sends the whole conversation again with the last reply and a new ~8 KB tool result appended,
// at 10 requests/s over 3 simulated replicas (`kvgate sim`, instant profile, estimate tokenizer),
// each in its own process. Two phases on the same workload: through `kvgate serve --preset
// precise` (KV events wired per endpoint) and through `kvgate serve --preset gie-default`
// (approximate). Each request is also sent straight to the replica the gateway chose, right
// before or after (alternating), so "added TTFT" is a per-request difference, not a difference of
// two noisy distributions. Reported: the gateway's CPU time per request from /proc/<pid>/stat
// (utime + stime: everything the process did, proxying the bodies included), the added TTFT's
// percentiles, and the gateway's own scheduling and tokenization times from its /metrics.
// Env: LONG_SESSIONS (default 10), LONG_TURNS (default 48), LONG_RATE (default 10 req/s),
// LONG_TOOL_CHARS (default 8192).
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { request } from 'undici';
import { startKvgateProcess, stopProcess, printTable, percentile } from './lib.js';

const SESSIONS = Number(process.env.LONG_SESSIONS ?? 10);
const TURNS = Number(process.env.LONG_TURNS ?? 48);
const RATE = Number(process.env.LONG_RATE ?? 10);
const TOOL_CHARS = Number(process.env.LONG_TOOL_CHARS ?? 8192);
const SYSTEM_CHARS = 12_000;
const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const TICKS_PER_S = 100; // Linux USER_HZ

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function rng(seed: number) {
  let a = seed;
  return () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Tool output: lines of code-ish text (newlines every ~60 characters, as agents' file reads and logs). */
function toolText(random: () => number, n: number): string {
  const words = ['const', 'return', 'await', 'function', 'if', 'else', 'import', 'export', 'value', 'result', 'error', 'config', 'router', 'token', 'cache', '{', '}', '(', ')', '=>', ';', '=', '+', 'this.state'];
  let s = '';
  let line = 0;
  while (s.length < n) {
    const w = words[Math.floor(random() * words.length)];
    s += w;
    line += w.length + 1;
    if (line > 50 + random() * 30) {
      s += '\n';
      line = 0;
    } else s += ' ';
  }
  return s.slice(0, n);
}

interface Msg {
  role: string;
  content: string;
  tool_call_id?: string;
}

/** /proc/<pid>/stat utime + stime, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

interface Sample {
  session: number;
  turn: number;
  bodyBytes: number;
  ttftMs: number;
  /** The same request straight to the replica the gateway chose. */
  directTtftMs: number;
  promptTokens: number;
  cachedTokens: number;
  status: number;
}

/** One streamed chat request; resolves with TTFT, the reply text and usage. */
async function chat(url: string, messages: Msg[]): Promise<{ ttftMs: number; reply: string; status: number; promptTokens: number; cachedTokens: number; bodyBytes: number; endpoint: string }> {
  const body = JSON.stringify({ model: MODEL, messages, max_tokens: 24, stream: true, stream_options: { include_usage: true } });
  const t0 = performance.now();
  const r = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  let ttft = -1;
  let reply = '';
  let buf = '';
  let promptTokens = 0;
  let cachedTokens = 0;
  for await (const chunk of r.body) {
    if (ttft < 0) ttft = performance.now() - t0;
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices?: { delta?: { content?: string } }[]; usage?: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } };
      reply += j.choices?.[0]?.delta?.content ?? '';
      if (j.usage) {
        promptTokens = j.usage.prompt_tokens;
        cachedTokens = j.usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
    }
  }
  return { ttftMs: ttft, reply, status: r.statusCode, promptTokens, cachedTokens, bodyBytes: Buffer.byteLength(body), endpoint: String(r.headers['x-gateway-destination-endpoint-served'] ?? '') };
}

/**
 * The sessions, interleaved at RATE requests/s: turn t of session s is due at (t·SESSIONS + s)/RATE
 * seconds; a session's next turn starts when both its previous turn ended and it is due. Each
 * turn goes through the gateway and, alternately before or after, straight to the replica the
 * gateway chose for it (`urlOf` maps an endpoint id to its URL).
 */
async function runPhase(gateway: string, urlOf: (endpointId: string) => string): Promise<Sample[]> {
  const samples: Sample[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, s) => {
      const random = rng(1000 + s);
      const messages: Msg[] = [
        { role: 'system', content: `Session ${s}. You are a coding agent.\n${toolText(rng(7), SYSTEM_CHARS)}` },
        { role: 'user', content: `Task ${s}: fix the failing tests.` },
      ];
      let last: string | undefined;
      for (let t = 0; t < TURNS; t++) {
        const due = ((t * SESSIONS + s) / RATE) * 1000;
        const wait = t0 + due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const directFirst = t % 2 === 1 && last !== undefined;
        const before = directFirst ? await chat(urlOf(last!), messages) : undefined;
        const res = await chat(gateway, messages);
        last = res.endpoint;
        const direct = before ?? (await chat(urlOf(res.endpoint), messages));
        samples.push({ session: s, turn: t, bodyBytes: res.bodyBytes, ttftMs: res.ttftMs, directTtftMs: direct.ttftMs, promptTokens: res.promptTokens, cachedTokens: res.cachedTokens, status: res.status });
        messages.push({ role: 'assistant', content: res.reply });
        messages.push({ role: 'tool', content: toolText(random, TOOL_CHARS), tool_call_id: `call_${t}` });
      }
    }),
  );
  return samples;
}

function metricSum(text: string, name: string): { sum: number; count: number } {
  const sum = Number(new RegExp(`^${name}_sum (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  const count = Number(new RegExp(`^${name}_count (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { sum, count };
}

// ---- the fleet: 3 replicas with KV events, each its own process ----
const replicas: { url: string; kv: number; replay: number; child: Awaited<ReturnType<typeof startKvgateProcess>>['child'] }[] = [];
try {
  for (let i = 0; i < 3; i++) {
    const kv = await freePort();
    const replay = await freePort();
    const { child, url } = await startKvgateProcess([
      'sim', '--port', '0', '--profile', 'instant', '--max-model-len', '131072', '--max-request-body-size-mb', '8',
      '--kv-events-endpoint', `tcp://*:${kv}`, '--kv-events-replay-endpoint', `tcp://*:${replay}`, '--seed', String(i),
    ]);
    replicas.push({ url, kv, replay, child });
  }
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-long-'));
  const endpointsFile = join(dir, 'endpoints.yaml');
  writeFileSync(endpointsFile, `endpoints:\n${replicas.map((r) => `- {url: ${r.url}, kvEventsPort: ${r.kv}, kvEventsReplayPort: ${r.replay}}`).join('\n')}\n`);

  const urlOf = (id: string) => replicas.find((r) => r.url.endsWith(`//${id}`))?.url ?? replicas[0].url;
  const phases: { name: string; samples: Sample[]; cpuPerReqMs: number; cpuPerReqLastThirdMs: number; schedMs: number; tokenizeMs: number; exactShare: number }[] = [];
  for (const preset of ['precise', 'gie-default']) {
    // LONG_PROF=DIR: a CPU profile of each gateway in DIR (node --cpu-prof), to see where its time goes.
    const prof = process.env.LONG_PROF;
    const { child, url } = await startKvgateProcess(
      ['serve', '--port', '0', '--preset', preset, '--endpoints-file', endpointsFile, '--max-body-bytes', String(8 * 1024 * 1024)],
      undefined,
      prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}/${preset}`, ...(process.env.LONG_TRACE_GC ? ['--trace-gc'] : [])] : [],
    );
    if (prof && process.env.LONG_TRACE_GC) {
      const { createWriteStream } = await import('node:fs');
      child.stdout!.pipe(createWriteStream(`${prof}/${preset}.gc.log`));
    }
    try {
      for (let i = 0; i < 200; i++) {
        const j = (await (await fetch(`${url}/v1/models`)).json()) as { data?: unknown[] };
        if (j.data?.length) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // Events streams join with the first traffic; a few short requests, outside the measurement.
      for (let i = 0; i < 30; i++) await chat(url, [{ role: 'user', content: `warm-up ${i} ${toolText(rng(i), 200)}` }]);
      const pid = child.pid!;
      const c0 = cpuSeconds(pid);
      // CPU read again when the last third of the turns (the largest bodies) falls due.
      const third = Math.ceil((2 * TURNS) / 3);
      let cThird = NaN;
      const timer = setTimeout(() => (cThird = cpuSeconds(pid)), ((third * SESSIONS) / RATE) * 1000);
      const samples = await runPhase(url, urlOf);
      clearTimeout(timer);
      const c1 = cpuSeconds(pid);
      const n = samples.length;
      const lastThird = samples.filter((s) => s.turn >= third);
      const lastThirdCpu = c1 - cThird;
      const m = await (await fetch(`${url}/metrics`)).text();
      const sched = metricSum(m, 'inference_extension_scheduler_e2e_duration_seconds');
      const tok = metricSum(m, 'kvgate_tokenize_duration_seconds');
      const exact = Number(/^kvgate_prefix_match_source_total\{source="exact"\} (\d+)/m.exec(m)?.[1] ?? 0);
      const approx = Number(/^kvgate_prefix_match_source_total\{source="approx"\} (\d+)/m.exec(m)?.[1] ?? 0);
      phases.push({
        name: preset,
        samples,
        cpuPerReqMs: ((c1 - c0) * 1000) / n,
        cpuPerReqLastThirdMs: (lastThirdCpu * 1000) / lastThird.length,
        schedMs: (sched.sum / sched.count) * 1000,
        tokenizeMs: tok.count > 0 ? (tok.sum / tok.count) * 1000 : 0,
        exactShare: exact / Math.max(1, exact + approx),
      });
    } finally {
      await stopProcess(child);
    }
  }

  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const all = phases.flatMap((p) => p.samples);
  const maxBody = Math.max(...all.map((s) => s.bodyBytes));
  const maxTokens = Math.max(...all.map((s) => s.promptTokens));
  const hit = (xs: Sample[]) => (100 * xs.reduce((a, s) => a + s.cachedTokens, 0)) / xs.reduce((a, s) => a + s.promptTokens, 0);
  const figures = phases.map((p) => {
    const gw = sorted(p.samples.map((s) => s.ttftMs));
    const direct = sorted(p.samples.map((s) => s.directTtftMs));
    const added = sorted(p.samples.map((s) => s.ttftMs - s.directTtftMs));
    return { p, gw, direct, added };
  });
  console.log(`\n${SESSIONS} sessions × ${TURNS} turns at ${RATE} req/s through the gateway; bodies up to ${(maxBody / 1024).toFixed(0)} KB, prompts up to ${maxTokens} tokens (mean body ${(all.reduce((a, s) => a + s.bodyBytes, 0) / all.length / 1024).toFixed(0)} KB)`);
  printTable([
    ['preset', 'gateway CPU ms/req', 'CPU ms/req, last third', 'TTFT p50 / p99 ms', 'direct p50 / p99 ms', 'added TTFT p50 ms', 'added p90 ms', 'added p99 ms', 'scheduling ms (mean)', 'tokenize ms (mean)', 'exact decisions', 'cache hit %', 'errors'],
    ...figures.map(({ p, gw, direct, added }) => [
      p.name,
      p.cpuPerReqMs.toFixed(2),
      p.cpuPerReqLastThirdMs.toFixed(2),
      `${percentile(gw, 50).toFixed(1)} / ${percentile(gw, 99).toFixed(1)}`,
      `${percentile(direct, 50).toFixed(1)} / ${percentile(direct, 99).toFixed(1)}`,
      percentile(added, 50).toFixed(1),
      percentile(added, 90).toFixed(1),
      percentile(added, 99).toFixed(1),
      p.schedMs.toFixed(3),
      p.tokenizeMs.toFixed(3),
      `${(100 * p.exactShare).toFixed(0)} %`,
      hit(p.samples).toFixed(1),
      p.samples.filter((s) => s.status !== 200).length,
    ]),
  ]);
  console.log('goals (precise): gateway CPU ≤ 20 ms per request; added TTFT p99 ≤ 20 ms');
  const [pr, ap] = figures;
  console.log(
    JSON.stringify({
      sessions: SESSIONS,
      turns: TURNS,
      rate_rps: RATE,
      max_body_bytes: maxBody,
      max_prompt_tokens: maxTokens,
      precise_cpu_per_request_ms: +pr.p.cpuPerReqMs.toFixed(2),
      precise_cpu_per_request_last_third_ms: +pr.p.cpuPerReqLastThirdMs.toFixed(2),
      approx_cpu_per_request_ms: +ap.p.cpuPerReqMs.toFixed(2),
      approx_cpu_per_request_last_third_ms: +ap.p.cpuPerReqLastThirdMs.toFixed(2),
      precise_ttft_p99_ms: +percentile(pr.gw, 99).toFixed(1),
      precise_added_ttft_p50_ms: +percentile(pr.added, 50).toFixed(1),
      precise_added_ttft_p99_ms: +percentile(pr.added, 99).toFixed(1),
      approx_added_ttft_p50_ms: +percentile(ap.added, 50).toFixed(1),
      approx_added_ttft_p99_ms: +percentile(ap.added, 99).toFixed(1),
      precise_scheduling_mean_ms: +pr.p.schedMs.toFixed(3),
      precise_tokenize_mean_ms: +pr.p.tokenizeMs.toFixed(3),
      precise_exact_share: +pr.p.exactShare.toFixed(3),
    }),
  );
} finally {
  for (const r of replicas) await stopProcess(r.child);
}
