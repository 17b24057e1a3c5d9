import type { RequestUsage } from '../api.js';

/**
 * Why a response body that should be JSON was not usable: `invalid_json`, a body that does not
 * parse (an HTML page from a proxy, plain text, bytes cut or padded). Any 2xx body that is not
 * `text/event-stream` is judged as JSON, so a streamed request answered with such a page counts
 * here too (responseStarted decides by the response's content type, not the request's `stream`). The `reason` label of
 * kvgate_upstream_invalid_responses_total and the access log's `invalidResponse`.
 */
export type InvalidResponseReason = 'invalid_json';

/**
 * Watches response bytes on their way to the client and finds the usage object, without
 * holding the stream: for SSE it keeps only the text since the last event boundary; for JSON
 * it keeps the body up to a cap (usage sits at the end of a completion object).
 */
export class UsageTap {
  private tail = '';
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private done = false;
  usage?: RequestUsage;
  /**
   * Set by finish() when the JSON body (at most the cap; a longer one is not judged) does not
   * parse: `usage` is then left unset, whatever usage-like bytes it held, so no token counts
   * (zeros included) are recorded for a body nobody could read.
   */
  invalid?: InvalidResponseReason;

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

  /** The usage found (idempotent: the body is read once). */
  finish(): RequestUsage | undefined {
    if (this.done) return this.usage;
    this.done = true;
    if (this.sse) {
      if (this.tail) this.readEvent(this.tail);
    } else if (this.bodyBytes <= this.maxJsonBytes) {
      const body = this.body.length === 1 ? this.body[0] : Buffer.concat(this.body);
      this.body = [];
      const read = usageOfJson(body);
      if (read === INVALID) this.invalid = 'invalid_json';
      else this.usage = read ?? this.usage;
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

/** usageOfJson's answer for a body that is not JSON. */
const INVALID = Symbol('invalid JSON');

/**
 * The usage object of a JSON completion, or INVALID when the body does not parse. Parses only the
 * `"usage": {…}` member when it can be cut out cleanly (a quote inside a JSON string is escaped,
 * so a bare `"usage"` is a key) from a body that starts with `{` and ends with `}`, which spares
 * parsing the whole completion on every response; otherwise parses the body (so a body without
 * usage, or with bytes around its object, is judged by JSON.parse).
 */
function usageOfJson(body: Buffer): RequestUsage | undefined | typeof INVALID {
  const key = wrappedInBraces(body) ? lastUsageKey(body) : -1;
  if (key < 0) return parsedUsage(body);
  const colon = skipSpace(body, key + 7);
  const open = body[colon] === 0x3a /* : */ ? skipSpace(body, colon + 1) : -1;
  if (open >= 0 && body[open] === 0x7b /* { */) {
    let depth = 0;
    for (let j = open; j < body.length; j++) {
      const c = body[j];
      if (c === 0x22 /* " */) {
        // skip the string, honouring backslash escapes
        for (j++; j < body.length && body[j] !== 0x22; j++) if (body[j] === 0x5c) j++;
      } else if (c === 0x7b) depth++;
      else if (c === 0x7d && --depth === 0) {
        try {
          return toUsage(JSON.parse(body.toString('utf8', open, j + 1)));
        } catch {
          break;
        }
      }
    }
  }
  return parsedUsage(body);
}

function parsedUsage(body: Buffer): RequestUsage | undefined | typeof INVALID {
  try {
    const o: unknown = JSON.parse(body.toString('utf8'));
    return toUsage((o as { usage?: unknown } | null)?.usage);
  } catch {
    return INVALID;
  }
}

/** The body's first and last non-space bytes are `{` and `}` (a JSON object's, or not JSON). */
function wrappedInBraces(b: Buffer): boolean {
  let end = b.length - 1;
  while (end >= 0 && (b[end] === 0x20 || b[end] === 0x0a || b[end] === 0x0d || b[end] === 0x09)) end--;
  return end > 0 && b[end] === 0x7d && b[skipSpace(b, 0)] === 0x7b;
}

/**
 * Where the last `"usage"` starts, or −1. A backward scan in JS: usage is near the end of a
 * completion, so this reads a hundred-odd bytes, where Buffer#lastIndexOf(string) encodes the
 * needle and crosses into C++ on every response (≈3× the time, measured on a 1 KB completion).
 */
function lastUsageKey(b: Buffer): number {
  // '"usage"' = 22 75 73 61 67 65 22; past the last 4 KiB (a body without usage, or a long tail
  // after it) the native search is the faster one.
  const stop = Math.max(0, b.length - 4096);
  for (let i = b.length - 7; i >= stop; i--) {
    if (b[i + 6] === 0x22 && b[i + 5] === 0x65 && b[i] === 0x22 && b[i + 1] === 0x75 && b[i + 2] === 0x73 && b[i + 3] === 0x61 && b[i + 4] === 0x67) return i;
  }
  return stop > 0 ? b.lastIndexOf('"usage"', stop - 1) : -1;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return i;
}

/**
 * Most tokens one request can count: far above any model's context (the longest served today are
 * ~10M tokens), so only a broken or hostile upstream's numbers are refused.
 */
const MAX_TOKENS_PER_REQUEST = 100_000_000;

/** A token count from an upstream: a non-negative integer within reason, else unknown. */
function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_TOKENS_PER_REQUEST ? v : undefined;
}

/**
 * The usage object of an OpenAI response, as kvgate counts it. The model server's numbers are
 * not trusted blindly: a negative, fractional or absurd count is left unknown (a negative one
 * would make a histogram's `_sum` fall and break `rate()`), and cached tokens never exceed the
 * prompt's.
 */
export function toUsage(u: unknown): RequestUsage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const o = u as { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null };
  const promptTokens = count(o.prompt_tokens);
  let cachedTokens = count(o.prompt_tokens_details?.cached_tokens);
  if (cachedTokens !== undefined && promptTokens !== undefined) cachedTokens = Math.min(cachedTokens, promptTokens);
  return { promptTokens, completionTokens: count(o.completion_tokens), cachedTokens };
}
