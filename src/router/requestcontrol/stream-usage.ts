import type { RequestUsage } from '../api.js';
import { toUsage } from '../observability/usage-tap.js';

const INJECTED = Buffer.from('"stream_options":{"include_usage":true},');

/**
 * The request body with `stream_options.include_usage: true`, for a streamed request whose client
 * did not ask for usage, so the engine reports token counts for every request. When the body has
 * no `stream_options` the member is spliced in after the opening brace (no re-serialisation of a
 * possibly huge prompt); otherwise the parsed object is re-serialised with the flag set.
 */
export function bodyWithIncludeUsage(body: Buffer, json: Record<string, unknown>): Buffer {
  if (json.stream_options === undefined) {
    const open = body.indexOf(0x7b /* { */);
    // The object has at least `model`, so the spliced member is always followed by another.
    return Buffer.concat([body.subarray(0, open + 1), INJECTED, body.subarray(open + 1)]);
  }
  const so = json.stream_options && typeof json.stream_options === 'object' ? (json.stream_options as Record<string, unknown>) : {};
  // continuous_usage_stats off: vLLM puts usage on every chunk only with include_usage, so the
  // client, which did not ask for usage, would otherwise get it on chunks this stream passes untouched.
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...so, include_usage: true, continuous_usage_stats: false } }));
}

const BOUNDARY = Buffer.from('\n\n');
const USAGE = Buffer.from('"usage"');

/**
 * Passes an SSE response through byte for byte except the final usage-only event (`choices: []`
 * with a `usage` object) that `include_usage` added, reading the usage from it. That event is
 * what vLLM sends before `data: [DONE]` when asked (its other chunks carry no usage member unless
 * continuous_usage_stats is on), so the client sees exactly the stream it would have without the
 * flag. Bytes after the last event boundary are held until the boundary arrives (an event is
 * never split differently in content, only in chunking).
 */
export class UsageStrippingStream {
  private pending: Buffer | undefined;
  usage?: RequestUsage;

  /** Bytes to forward for this upstream chunk (possibly empty). */
  push(chunk: Buffer): Buffer {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const last = buf.lastIndexOf(BOUNDARY);
    if (last < 0) {
      this.pending = buf;
      return Buffer.alloc(0);
    }
    const complete = buf.subarray(0, last + 2);
    this.pending = last + 2 < buf.length ? buf.subarray(last + 2) : undefined;
    if (complete.indexOf(USAGE) < 0) return complete;
    return this.filter(complete);
  }

  /** Whatever is held at the end of the stream. */
  end(): Buffer {
    const rest = this.pending;
    this.pending = undefined;
    if (!rest) return Buffer.alloc(0);
    return rest.indexOf(USAGE) < 0 ? rest : this.filter(rest);
  }

  private filter(events: Buffer): Buffer {
    const keep: Buffer[] = [];
    let start = 0;
    while (start < events.length) {
      let end = events.indexOf(BOUNDARY, start);
      end = end < 0 ? events.length : end + 2;
      const ev = events.subarray(start, end);
      if (!this.isUsageOnly(ev)) keep.push(ev);
      start = end;
    }
    return keep.length === 1 ? keep[0] : Buffer.concat(keep);
  }

  private isUsageOnly(ev: Buffer): boolean {
    if (ev.indexOf(USAGE) < 0) return false;
    const text = ev.toString('utf8').trim();
    if (!text.startsWith('data:')) return false;
    try {
      const o = JSON.parse(text.slice(5)) as { choices?: unknown; usage?: unknown };
      const usage = toUsage(o.usage);
      if (Array.isArray(o.choices) && o.choices.length === 0 && usage) {
        this.usage = usage;
        return true;
      }
    } catch {
      // not one JSON event: pass it through
    }
    return false;
  }
}
