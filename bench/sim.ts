// npm run bench:sim — the simulator's calibration against the seed's latencies, and its own cost
// (so it is never the bottleneck of a routing benchmark). Server in its own process; load from here.
import { Pool } from 'undici';
import { startKvgateProcess, stopProcess, peakRssBytes, median, percentile, printTable } from './lib.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

interface CompletionReply {
  usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

async function post(pool: Pool, path: string, body: unknown): Promise<{ status: number; json: CompletionReply }> {
  const r = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.body.text();
  return { status: r.statusCode, json: text ? JSON.parse(text) : null };
}

async function calibration() {
  const { child, url } = await startKvgateProcess(['sim', '--port', '0', '--profile', 'qwen2.5-3b-tpu-v6e']);
  const pool = new Pool(url, { connections: 4 });
  try {
    for (let i = 0; i < 5; i++) await post(pool, '/v1/completions', { model: MODEL, prompt: `warm-up ${i} `.repeat(300), max_tokens: 10 });
    const cold: number[] = [];
    const warm: number[] = [];
    let cached = 0;
    for (let s = 0; s < 7; s++) {
      const prompt = `Document ${s}: ${'Background material for the question. '.repeat(315)}\nQuestion: what is the capital of France?`;
      const body = { model: MODEL, prompt, max_tokens: 10 };
      let t = performance.now();
      await post(pool, '/v1/completions', body);
      cold.push(performance.now() - t);
      t = performance.now();
      const w = await post(pool, '/v1/completions', body);
      warm.push(performance.now() - t);
      cached = w.json.usage.prompt_tokens_details.cached_tokens;
      if (s === 0) console.log(`prompt: ${w.json.usage.prompt_tokens} tokens, warm cached_tokens ${cached}`);
    }
    return { cold: median(cold), warm: median(warm), cached };
  } finally {
    await pool.close();
    await stopProcess(child);
  }
}

async function throughput(durationMs: number, connections: number) {
  const { child, url } = await startKvgateProcess(['sim', '--port', '0', '--profile', 'instant']);
  const pool = new Pool(url, { connections, pipelining: 1 });
  const lat: number[] = [];
  let ok = 0;
  let errors = 0;
  try {
    const body = JSON.stringify({ model: MODEL, prompt: 'Say something short.', max_tokens: 4 });
    const worker = async (end: number) => {
      while (performance.now() < end) {
        const t = performance.now();
        const r = await pool.request({ method: 'POST', path: '/v1/completions', headers: { 'content-type': 'application/json' }, body });
        await r.body.dump();
        if (r.statusCode === 200) ok++;
        else errors++;
        lat.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: connections }, () => worker(performance.now() + 1000))); // warm-up
    ok = 0;
    errors = 0;
    lat.length = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: connections }, () => worker(t0 + durationMs)));
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return { rps: ok / secs, errors, p50: percentile(lat, 50), p99: percentile(lat, 99), rss: peakRssBytes(child.pid!) };
  } finally {
    await pool.close();
    await stopProcess(child);
  }
}

async function concurrentStreams(n: number) {
  // 40 tokens 50 ms apart: every stream stays open ~2 s, so all n are in flight at once.
  const { child, url } = await startKvgateProcess(['sim', '--port', '0', '--profile', 'instant', '--inter-token-latency', '50']);
  const pool = new Pool(url, { connections: n });
  let maxRunning = 0;
  const poll = setInterval(async () => {
    try {
      const r = await fetch(`${url}/metrics`);
      const m = /vllm:num_requests_running\{[^}]*\} (\d+)/.exec(await r.text());
      if (m) maxRunning = Math.max(maxRunning, Number(m[1]));
    } catch {
      /* ignore */
    }
  }, 200);
  try {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = await pool.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: `stream ${i}` }], max_tokens: 40, stream: true, stream_options: { include_usage: true } }),
        });
        const text = await r.body.text();
        const done = text.trimEnd().endsWith('data: [DONE]');
        const usage = /"completion_tokens":(\d+)/.exec(text);
        return r.statusCode === 200 && done && usage !== null && Number(usage[1]) === 40;
      }),
    );
    return { completed: results.filter(Boolean).length, maxRunning, wallMs: performance.now() - t0, rss: peakRssBytes(child.pid!) };
  } finally {
    clearInterval(poll);
    await pool.close();
    await stopProcess(child);
  }
}

const cal = await calibration();
const tp = await throughput(6000, 64);
const streams = await concurrentStreams(1000);

const within = (v: number, target: number) => (Math.abs(v - target) / target <= 0.15 ? 'PASS' : 'FAIL');
console.log('\nkvgate sim — calibration (qwen2.5-3b-tpu-v6e, max_tokens 10, median of 7)');
printTable([
  ['request', 'measured ms', 'target ms', '±15 %'],
  ['~3,000-token uncached prefix', cal.cold.toFixed(1), 215, within(cal.cold, 215)],
  ['same request, warm', cal.warm.toFixed(1), 80, within(cal.warm, 80)],
  ['warm speed-up', `${((1 - cal.warm / cal.cold) * 100).toFixed(1)} %`, '62–75 %', ''],
]);
console.log('\nkvgate sim — cost (instant profile, one process)');
printTable([
  ['measure', 'value', 'goal'],
  ['short non-streamed req/s (64 conns)', tp.rps.toFixed(0), '≥ 2,000'],
  ['  p50 / p99 latency ms', `${tp.p50.toFixed(2)} / ${tp.p99.toFixed(2)}`, ''],
  ['  errors', tp.errors, '0'],
  ['concurrent streams completed', `${streams.completed} / 1000`, '1,000'],
  ['  max running seen in /metrics', streams.maxRunning, ''],
  ['  peak RSS MB', (streams.rss / 1e6).toFixed(0), ''],
]);
console.log(
  JSON.stringify({
    e2e_cold_ms: +cal.cold.toFixed(2),
    e2e_warm_ms: +cal.warm.toFixed(2),
    warm_speedup_pct: +((1 - cal.warm / cal.cold) * 100).toFixed(1),
    warm_cached_tokens: cal.cached,
    throughput_rps: +tp.rps.toFixed(0),
    throughput_p50_ms: +tp.p50.toFixed(3),
    throughput_p99_ms: +tp.p99.toFixed(3),
    throughput_errors: tp.errors,
    concurrent_streams: streams.completed,
    concurrent_streams_max_running: streams.maxRunning,
    concurrent_streams_wall_ms: +streams.wallMs.toFixed(0),
    throughput_rss_bytes: tp.rss,
    streams_rss_bytes: streams.rss,
  }),
);
