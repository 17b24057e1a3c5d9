import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import { promptOf, type BenchRequest, type ChatMessage } from './workloads.js';
import { poissonGapsMs, seededRandom } from './stats.js';
import { Conversation, units, type Unit } from './units.js';
import { errorMessageOfBody } from './error-messages.js';

/** What one request measured (times in ms, relative to the run's start). */
export interface Sample {
  ok: boolean;
  status: number;
  /** Why it failed: the error body's message (status kept in `status`), a stream error, or the transport's. */
  error?: string;
  stage: number;
  startMs: number;
  ttftMs?: number;
  e2eMs: number;
  /** Gaps between streamed token chunks. */
  itlMs: number[];
  outputTokens: number;
  promptTokens?: number;
  cachedTokens?: number;
  endpoint?: string;
}

export interface Stage {
  /** Offered requests per second (Poisson); undefined = closed loop. */
  rate?: number;
  durationS?: number;
}

export interface RunOptions {
  url: string;
  model: string;
  apiKey?: string;
  /** Closed-loop workers (ignored for rate stages). */
  concurrency: number;
  stages: Stage[];
  /** Requests to send in a closed-loop run (default: the workload's size). */
  numRequests?: number;
  timeoutMs: number;
  seed: number;
  /**
   * Trace replay: every request is sent at its own `arrivalMs` (open loop, stages ignored); its
   * stage in the report is the replay window it falls in (`arrivalMs / windowMs`).
   */
  replay?: { windowMs: number };
  signal?: AbortSignal;
  onSample?: (s: Sample) => void;
}

/**
 * The JSON body sent for one request (streamed, usage included, ignore_eos so every request
 * generates exactly max_tokens, as inference-perf does). `messages`: the conversation so far for chat.
 */
export function requestBody(model: string, req: BenchRequest, messages: ChatMessage[] | undefined): string {
  return JSON.stringify({
    model,
    ...(req.kind === 'chat' ? { messages } : { prompt: promptOf(req) }),
    max_tokens: req.maxTokens,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
}

export class BenchRunner {
  readonly samples: Sample[] = [];
  private readonly agent = new Agent({ connections: 1024, keepAliveTimeout: 30_000 });
  private t0 = 0;
  /**
   * The run's own signal, aborted when the caller's is. Every in-flight request and pending sleep
   * listens on it (hundreds at once in an open loop), so it has no listener cap; the caller's
   * signal carries one listener, removed when the run ends.
   */
  private readonly ac = new AbortController();

  constructor(private readonly o: RunOptions) {
    setMaxListeners(0, this.ac.signal);
  }

  private get signal(): AbortSignal {
    return this.ac.signal;
  }

  async run(reqs: BenchRequest[]): Promise<Sample[]> {
    const all = units(reqs);
    this.t0 = performance.now();
    let next = 0;
    const take = () => all[next++ % all.length];
    const forward = () => this.ac.abort();
    if (this.o.signal?.aborted) this.ac.abort();
    else this.o.signal?.addEventListener('abort', forward, { once: true });
    try {
      if (this.o.replay) {
        const windowMs = this.o.replay.windowMs;
        const inflight: Promise<void>[] = [];
        for (const r of reqs) {
          const wait = (r.arrivalMs ?? 0) - (performance.now() - this.t0);
          if (wait > 0) await this.sleep(wait);
          if (this.signal.aborted) break;
          inflight.push(this.runUnit([r], Math.floor((r.arrivalMs ?? 0) / windowMs)));
        }
        await Promise.all(inflight);
        return this.samples;
      }
      for (const [si, st] of this.o.stages.entries()) {
        if (this.signal.aborted) break;
        if (st.rate === undefined) {
          const total = this.o.numRequests ?? all.length;
          let started = 0;
          await Promise.all(
            Array.from({ length: Math.min(this.o.concurrency, total) }, async () => {
              while (started < total && !this.signal.aborted) {
                started++;
                await this.runUnit(take(), si);
              }
            }),
          );
        } else {
          const end = performance.now() + (st.durationS ?? 10) * 1000;
          const random = seededRandom(this.o.seed + si);
          const inflight: Promise<void>[] = [];
          for (;;) {
            const [gap] = poissonGapsMs(st.rate, 1, random);
            // An arrival after the stage's end is not waited for: the stage lasts its duration.
            const left = end - performance.now();
            await this.sleep(Math.min(gap, Math.max(0, left)));
            if (gap >= left || performance.now() >= end || this.signal.aborted) break;
            inflight.push(this.runUnit(take(), si));
          }
          await Promise.all(inflight);
        }
      }
    } finally {
      this.o.signal?.removeEventListener('abort', forward);
      await this.agent.close();
    }
    return this.samples;
  }

  /** Waits ms, or less if the run is aborted; leaves no listener behind either way. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.signal;
      if (signal.aborted) return resolve();
      const wake = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  private async runUnit(unit: Unit, stage: number): Promise<void> {
    const conversation = new Conversation();
    for (const req of unit) {
      if (this.signal.aborted) return;
      const messages = conversation.messagesFor(req);
      const { sample, text } = await this.send(req, messages, stage);
      conversation.answered(req, text);
      this.samples.push(sample);
      this.o.onSample?.(sample);
      if (!sample.ok && req.conversation !== undefined) return; // a broken conversation cannot go on
    }
  }

  private async send(req: BenchRequest, messages: ChatMessage[] | undefined, stage: number): Promise<{ sample: Sample; text: string }> {
    const chat = req.kind === 'chat';
    const body = requestBody(this.o.model, req, messages);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    const start = performance.now();
    const sample: Sample = { ok: false, status: 0, stage, startMs: start - this.t0, e2eMs: 0, itlMs: [], outputTokens: 0 };
    let text = '';
    try {
      const res = await request(`${this.o.url}${chat ? '/v1/chat/completions' : '/v1/completions'}`, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.agent,
        headersTimeout: this.o.timeoutMs,
        bodyTimeout: this.o.timeoutMs,
        signal: this.signal,
      });
      sample.status = res.statusCode;
      const served = res.headers['x-gateway-destination-endpoint-served'];
      if (typeof served === 'string') sample.endpoint = served;
      let buf = '';
      let last = 0;
      let chunks = 0;
      for await (const c of res.body) {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!ev.startsWith('data:')) continue;
          const data = ev.slice(5).trim();
          if (data === '[DONE]') continue;
          let j: { choices?: { text?: string; delta?: { content?: string } }[]; usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null }; error?: { message?: string } };
          try {
            j = JSON.parse(data);
          } catch {
            continue;
          }
          if (j.error) sample.error = j.error.message ?? 'stream error';
          const piece = j.choices?.[0]?.text ?? j.choices?.[0]?.delta?.content;
          if (piece) {
            const now = performance.now();
            if (sample.ttftMs === undefined) sample.ttftMs = now - start;
            else sample.itlMs.push(now - last);
            last = now;
            chunks++;
            text += piece;
          }
          if (j.usage) {
            sample.promptTokens = j.usage.prompt_tokens;
            sample.outputTokens = j.usage.completion_tokens ?? chunks;
            sample.cachedTokens = j.usage.prompt_tokens_details?.cached_tokens ?? undefined;
          }
        }
      }
      if (sample.outputTokens === 0) sample.outputTokens = chunks;
      sample.ok = res.statusCode === 200 && !sample.error;
      // The server's own words ("This model's maximum context length is …"), not only its status.
      if (res.statusCode !== 200) sample.error = errorMessageOfBody(buf);
    } catch (err) {
      sample.error = this.signal.aborted ? 'cancelled' : (err as Error).message;
    }
    sample.e2eMs = performance.now() - start;
    return { sample, text };
  }
}
