import { request } from 'undici';
import { randomBytes } from 'node:crypto';
import { v1SuffixHint } from '../shared/v1-url-hint.js';

export type Status = 'PASS' | 'FAIL' | 'SKIP';

export interface CheckRow {
  test: string;
  status: Status;
  result: string;
  /** Why it failed and what to look at. */
  diagnosis?: string;
  data?: Record<string, unknown>;
}

export interface VerifyOptions {
  url: string;
  model?: string;
  apiKey?: string;
  timeoutMs: number;
  /** Informational: a speedup below this is flagged in the result text (the seed expected 60–75 %). */
  cacheSpeedupThresholdPct: number;
  /** How many times the cache row sends its prompt (the first is cold). */
  cacheRequests: number;
  /** The cache row's prompt (the seed script's --prompt); default a fresh ~3,000-token prompt. */
  prompt?: string;
  parallel: number;
  requests: number;
  maxTokens: number;
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

function explain(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (code === 'ECONNREFUSED') return `connection refused at ${url}: nothing is listening there`;
  if (code === 'ENOTFOUND') return `host not found: ${url}`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return `no answer from ${url} in time`;
  return `${url}: ${e.message ?? String(err)}`;
}

/** What a failed answer said: OpenAI's `error.message`, a bare `error` string (vLLM's 401), else the body's start. */
function errorMessage(r: HttpResult): string {
  try {
    const j = JSON.parse(r.text) as { error?: { message?: unknown } | unknown; message?: unknown };
    const e = j.error;
    if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
    if (typeof e === 'string') return e;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  return r.text.slice(0, 120).replace(/\s+/g, ' ').trim() || '(empty body)';
}

/**
 * The non-200 answers of a batch of probes, by status: "HTTP 404 ×6: The model `nope` does not
 * exist." — so a row says why its requests failed, not only how many did.
 */
class Failures {
  count = 0;
  private readonly byStatus = new Map<number, { n: number; message: string }>();

  add(r: HttpResult): void {
    this.count++;
    const f = this.byStatus.get(r.status);
    if (f) f.n++;
    else this.byStatus.set(r.status, { n: 1, message: errorMessage(r) });
  }

  summary(of: number, what: string): string {
    const parts = [...this.byStatus].map(([status, f]) => `HTTP ${status}${this.byStatus.size > 1 ? ` ×${f.n}` : ''}: ${f.message}`);
    return `${this.count === of ? `all ${of}` : `${this.count} of ${of}`} ${what} failed — ${parts.join('; ')}`;
  }
}

/** The seed's verification table as code: each check returns a row, never throws. */
export class Verifier {
  private model?: string;

  constructor(private readonly o: VerifyOptions) {
    this.model = o.model;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpResult> {
    const t0 = performance.now();
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    const r = await request(`${this.o.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: this.o.timeoutMs,
      bodyTimeout: this.o.timeoutMs,
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text, ms: performance.now() - t0 };
  }

  private complete(prompt: string, maxTokens = this.o.maxTokens) {
    return this.call('POST', '/v1/completions', { model: this.model, prompt, max_tokens: maxTokens });
  }

  async health(): Promise<CheckRow> {
    try {
      const r = await this.call('GET', '/health');
      if (r.status === 200) return { test: 'Health Check', status: 'PASS', result: '200 OK' };
      return { test: 'Health Check', status: 'FAIL', result: `HTTP ${r.status}`, diagnosis: r.status === 503 ? 'the server is up but not ready (still loading, or no ready replica behind the gateway)' : `GET /health answered ${r.status}` };
    } catch (err) {
      return { test: 'Health Check', status: 'FAIL', result: 'unreachable', diagnosis: explain(err, this.o.url) };
    }
  }

  async models(): Promise<CheckRow> {
    try {
      const r = await this.call('GET', '/v1/models');
      let ids: string[] = [];
      try {
        const j = JSON.parse(r.text) as { data?: { id?: unknown }[] };
        ids = (j.data ?? []).map((d) => d.id).filter((x): x is string => typeof x === 'string');
      } catch {
        /* not JSON */
      }
      if (r.status === 401) return { test: 'Models List', status: 'FAIL', result: 'HTTP 401', diagnosis: 'the server wants an API key: pass --api-key' };
      if (r.status !== 200 || ids.length === 0) {
        const v1Hint = v1SuffixHint(this.o.url, r.status, 'verify');
        return { test: 'Models List', status: 'FAIL', result: `HTTP ${r.status}`, diagnosis: `not an OpenAI server: /v1/models returned ${r.status} ${r.text.slice(0, 80).replace(/\s+/g, ' ')}${v1Hint}` };
      }
      if (this.model && !ids.includes(this.model)) {
        return { test: 'Models List', status: 'FAIL', result: ids.join(', '), diagnosis: `model "${this.model}" is not served here (served: ${ids.join(', ')})` };
      }
      this.model ??= ids[0];
      return { test: 'Models List', status: 'PASS', result: ids.join(', '), data: { models: ids } };
    } catch (err) {
      return { test: 'Models List', status: 'FAIL', result: 'unreachable', diagnosis: explain(err, this.o.url) };
    }
  }

  async completion(): Promise<CheckRow> {
    if (!this.model) return { test: 'Completion', status: 'SKIP', result: 'no model known', diagnosis: 'Models List failed and no --model was given' };
    try {
      const r = await this.complete('The capital of France is');
      const j = JSON.parse(r.text) as { choices?: { text?: string }[]; error?: { message?: string } };
      const text = j.choices?.[0]?.text;
      if (r.status === 200 && typeof text === 'string') return { test: 'Completion', status: 'PASS', result: `"The capital of France is" → "${text.trim().replace(/\s+/g, ' ').slice(0, 60)}"`, data: { latency_ms: r.ms } };
      return { test: 'Completion', status: 'FAIL', result: `HTTP ${r.status}`, diagnosis: j.error?.message ?? r.text.slice(0, 120) };
    } catch (err) {
      return { test: 'Completion', status: 'FAIL', result: 'error', diagnosis: explain(err, this.o.url) };
    }
  }

  async loadDistribution(): Promise<CheckRow> {
    if (!this.model) return { test: 'Load Distribution', status: 'SKIP', result: 'no model known' };
    const served = new Map<string, number>();
    const failures = new Failures();
    const n = Math.max(6, this.o.requests);
    try {
      await this.pool(n, this.o.parallel, async (i) => {
        const r = await this.complete(`Distribution probe ${i} ${randomBytes(8).toString('hex')}. `.repeat(20), 1);
        if (r.status !== 200) failures.add(r);
        const h = r.headers['x-gateway-destination-endpoint-served'];
        if (typeof h === 'string') served.set(h, (served.get(h) ?? 0) + 1);
      });
    } catch (err) {
      return { test: 'Load Distribution', status: 'FAIL', result: 'error', diagnosis: explain(err, this.o.url) };
    }
    // Failed requests first: with none answered, "does not report the serving replica" would blame the header.
    if (failures.count > 0 && served.size === 0) return { test: 'Load Distribution', status: 'FAIL', result: `${failures.count} of ${n} probe requests failed`, diagnosis: failures.summary(n, 'probe requests') };
    if (served.size === 0) return { test: 'Load Distribution', status: 'SKIP', result: 'the endpoint does not report the serving replica (x-gateway-destination-endpoint-served)' };
    const dist = [...served].map(([k, v]) => `${k}×${v}`).join(', ');
    if (failures.count > 0) return { test: 'Load Distribution', status: 'FAIL', result: dist, diagnosis: failures.summary(n, 'probe requests') };
    if (served.size < 2) return { test: 'Load Distribution', status: 'FAIL', result: dist, diagnosis: 'every request went to one replica: is only one replica ready, or is the routing pinned?' };
    return { test: 'Load Distribution', status: 'PASS', result: `requests distributed across ${served.size} replicas (${dist})`, data: { served: Object.fromEntries(served) } };
  }

  /**
   * The cache row decides from causes, not timing: the same prompt sent `cacheRequests` times
   * must land on the same replica (`x-gateway-destination-endpoint-served`) and every repeat must
   * report cached prompt tokens (`usage.prompt_tokens_details.cached_tokens`, vLLM with
   * --enable-prompt-tokens-details). The cold-vs-warm latency is reported as information only:
   * on a busy host it says nothing either way.
   */
  async cacheRouting(): Promise<CheckRow> {
    const name = 'Cache Routing';
    if (!this.model) return { test: name, status: 'SKIP', result: 'no model known' };
    // By default a fresh ~3,000-token prompt nobody has cached; --prompt sends the given text as the seed's script did.
    const prompt = this.o.prompt ?? `Reference ${randomBytes(8).toString('hex')}: ${'This paragraph is background material for the question that follows. '.repeat(170)}\nQuestion: summarise the background in one sentence.`;
    const n = Math.max(2, this.o.cacheRequests);
    const sent: { r: HttpResult; served?: string; cached?: number; promptTokens?: number }[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const r = await this.complete(prompt);
        if (r.status !== 200) return { test: name, status: 'FAIL', result: `request ${i + 1} of ${n}: HTTP ${r.status}`, diagnosis: errorMessage(r) };
        const usage = (JSON.parse(r.text) as { usage?: { prompt_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } }).usage;
        const h = r.headers['x-gateway-destination-endpoint-served'];
        sent.push({ r, served: typeof h === 'string' ? h : undefined, cached: usage?.prompt_tokens_details?.cached_tokens ?? undefined, promptTokens: usage?.prompt_tokens });
      }
    } catch (err) {
      return { test: name, status: 'FAIL', result: 'error', diagnosis: explain(err, this.o.url) };
    }
    const [cold, ...warm] = sent;
    const warmMs = warm.reduce((a, w) => a + w.r.ms, 0) / warm.length;
    const speedup = ((cold.r.ms - warmMs) / cold.r.ms) * 100;
    const servedKnown = sent.every((x) => x.served !== undefined);
    const sameReplica = servedKnown && warm.every((w) => w.served === cold.served);
    const cachedKnown = warm.every((w) => typeof w.cached === 'number');
    const cachedAll = cachedKnown && warm.every((w) => w.cached! > 0);
    const data = {
      requests: n,
      served: sent.map((x) => x.served ?? null),
      same_replica: servedKnown ? sameReplica : null,
      cached_tokens: sent.map((x) => x.cached ?? null),
      prompt_tokens: cold.promptTokens ?? null,
      cold_ms: +cold.r.ms.toFixed(1),
      warm_ms: +warmMs.toFixed(1),
      speedup_pct: +speedup.toFixed(1),
    };
    const where = servedKnown ? (sameReplica ? `all ${n} on ${cold.served}` : `on ${[...new Set(sent.map((x) => x.served))].join(', ')}`) : 'serving replica not reported';
    const tokens = cachedKnown ? `cached_tokens ${warm.map((w) => w.cached).join('/')} of ${cold.promptTokens ?? '?'}` : 'cached_tokens not reported';
    const belowSeed = speedup < this.o.cacheSpeedupThresholdPct ? `, below the ${this.o.cacheSpeedupThresholdPct} % the seed expected` : '';
    const faster = speedup >= 0 ? `${speedup.toFixed(0)} % faster` : `${(-speedup).toFixed(0)} % slower`;
    const result = `${where}; ${tokens}; cold ${cold.r.ms.toFixed(0)} ms → warm ${warmMs.toFixed(0)} ms (${faster}${belowSeed}; information only)`;
    if (!cachedKnown) {
      return { test: name, status: 'FAIL', result, data, diagnosis: 'the fleet does not report usage.prompt_tokens_details.cached_tokens, so no cache hit can be shown (latency alone proves nothing on a busy host): start vLLM with --enable-prompt-tokens-details (kvgate render sets it)' };
    }
    // Under one KV block nothing can be cached, and a prefix-aware router has no prefix to follow either.
    if (!cachedAll && cold.promptTokens !== undefined && cold.promptTokens < 32) {
      return { test: name, status: 'FAIL', result, data, diagnosis: `the prompt has ${cold.promptTokens} tokens; vLLM caches whole KV blocks (16 tokens by default) and prefix-aware routing follows those blocks, so give a longer --prompt` };
    }
    if (servedKnown && !sameReplica) {
      return { test: name, status: 'FAIL', result, data, diagnosis: `the same prompt went to ${[...new Set(sent.map((x) => x.served))].join(' and ')}: routing is not cache-aware (check the scorer weights and that the gateway forwards request bodies to the endpoint picker)` };
    }
    if (!cachedAll) return { test: name, status: 'FAIL', result, data, diagnosis: await this.diagnoseNoCache(sent.at(-1)!.served) };
    return { test: name, status: 'PASS', result, data };
  }

  private async diagnoseNoCache(served: string | undefined): Promise<string> {
    const metricsUrls = [`${this.o.url}/metrics`];
    if (served) metricsUrls.push(`http://${served}/metrics`);
    for (const u of metricsUrls) {
      try {
        const r = await request(u, { headersTimeout: this.o.timeoutMs, bodyTimeout: this.o.timeoutMs });
        const text = await r.body.text();
        const m = /vllm:cache_config_info\{[^}]*enable_prefix_caching="(\w+)"/.exec(text);
        if (m && m[1].toLowerCase() === 'false') return `no cached tokens: prefix caching looks disabled — vllm:cache_config_info reports enable_prefix_caching=${m[1]} (start vLLM with --enable-prefix-caching)`;
      } catch {
        /* metrics not reachable from here */
      }
    }
    return 'no cached tokens although the repeats reached the same replica: prefix caching looks disabled on the model server (--enable-prefix-caching), or the cache is too small to keep the prompt between requests';
  }

  async throughput(): Promise<CheckRow> {
    const name = 'Throughput';
    if (!this.model) return { test: name, status: 'SKIP', result: 'no model known' };
    const lat: number[] = [];
    const failures = new Failures();
    const t0 = performance.now();
    try {
      await this.pool(this.o.requests, this.o.parallel, async (i) => {
        const r = await this.complete(`Throughput probe ${i}: write one short sentence.`);
        if (r.status === 200) lat.push(r.ms);
        else failures.add(r);
      });
    } catch (err) {
      return { test: name, status: 'FAIL', result: 'error', diagnosis: explain(err, this.o.url) };
    }
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    // With every request failed there is no latency to report ("P50 NaN ms" said nothing).
    const p50 = lat.length ? lat[Math.ceil(lat.length / 2) - 1] : undefined;
    const rps = lat.length / secs;
    // pool() runs at most one worker per request: that is the concurrency that was used.
    const concurrency = Math.min(this.o.parallel, this.o.requests);
    const data = { requests: this.o.requests, concurrency, throughput_rps: +rps.toFixed(2), p50_ms: p50 === undefined ? null : +p50.toFixed(1), failures: failures.count };
    const result = `${rps.toFixed(1)} req/s, ${p50 === undefined ? 'no request succeeded' : `P50 ${p50.toFixed(0)} ms`} (${this.o.requests} requests, ${concurrency} concurrent)`;
    if (failures.count > 0) return { test: name, status: 'FAIL', result, diagnosis: failures.summary(this.o.requests, 'requests'), data };
    return { test: name, status: 'PASS', result, data };
  }

  private async pool(n: number, conc: number, f: (i: number) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(conc, n) }, async () => {
        while (next < n) await f(next++);
      }),
    );
  }

  async run(): Promise<CheckRow[]> {
    const rows = [await this.health(), await this.models()];
    rows.push(await this.completion());
    rows.push(await this.loadDistribution());
    rows.push(await this.cacheRouting());
    rows.push(await this.throughput());
    return rows;
  }
}
