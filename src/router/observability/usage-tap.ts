import type { RequestUsage } from '../api.js';

/**
 * Watches response bytes on their way to the client and finds the usage object, without
 * holding the stream: for SSE it keeps only the text since the last event boundary; for JSON
 * it keeps the body up to a cap (usage sits at the end of a completion object).
 */
export class UsageTap {
  private tail = '';
  private body: Buffer[] = [];
  private bodyBytes = 0;
  usage?: RequestUsage;

  constructor(private readonly sse: boolean, private readonly maxJsonBytes = 4 * 1024 * 1024) {}

  push(chunk: Buffer): void {
    if (!this.sse) {
      if (this.bodyBytes + chunk.length <= this.maxJsonBytes) this.body.push(chunk);
      this.bodyBytes += chunk.length;
      return;
    }
    const text = this.tail + chunk.toString('utf8');
    const parts = text.split('\n\n');
    this.tail = parts.pop() ?? '';
    for (const ev of parts) this.readEvent(ev);
  }

  finish(): RequestUsage | undefined {
    if (this.sse) {
      if (this.tail) this.readEvent(this.tail);
    } else if (this.bodyBytes <= this.maxJsonBytes && this.body.length) {
      try {
        this.usage = toUsage((JSON.parse(Buffer.concat(this.body).toString('utf8')) as { usage?: unknown }).usage) ?? this.usage;
      } catch {
        // not JSON: no usage
      }
    }
    return this.usage;
  }

  private readEvent(ev: string): void {
    if (!ev.includes('"usage"')) return;
    for (const line of ev.split('\n')) {
      if (!line.startsWith('data:')) continue;
      try {
        const u = toUsage((JSON.parse(line.slice(5)) as { usage?: unknown }).usage);
        if (u) this.usage = u;
      } catch {
        // partial or non-JSON event
      }
    }
  }
}

function toUsage(u: unknown): RequestUsage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const o = u as { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null };
  return { promptTokens: o.prompt_tokens, completionTokens: o.completion_tokens, cachedTokens: o.prompt_tokens_details?.cached_tokens };
}
