/**
 * What failed requests said, for `kvgate bench` and `kvgate simulate`: a status alone ("2 × HTTP
 * 400") does not tell an over-long prompt from a bad model name, the server's message does.
 */

/** One distinct error: its status (or transport error), its first message, how many requests got it. */
export interface ErrorMessageCount {
  /** HTTP status as text ("400"), or the transport error's kind when there was no response ("cancelled"). */
  status: string;
  message: string;
  count: number;
}

/** Distinct messages a report keeps: enough to see what went wrong, bounded when every message differs. */
export const MAX_ERROR_MESSAGES = 10;

/**
 * Distinct (status, message) pairs of failed requests, most frequent first (ties: first seen
 * first), at most MAX_ERROR_MESSAGES (the requests behind those left off are the report's errors
 * minus these counts).
 */
export function countErrorMessages(errors: Iterable<{ status: string; message: string }>): ErrorMessageCount[] {
  const byKey = new Map<string, ErrorMessageCount>();
  for (const e of errors) {
    const key = `${e.status}\0${e.message}`;
    const seen = byKey.get(key);
    if (seen) seen.count++;
    else byKey.set(key, { status: e.status, message: e.message, count: 1 });
  }
  // Map order is first-seen order and sort is stable: equal counts stay in the order they came.
  return [...byKey.values()].sort((a, b) => b.count - a.count).slice(0, MAX_ERROR_MESSAGES);
}

/**
 * The message of an error response body: OpenAI's and vLLM's `{"error":{"message"}}`, FastAPI's
 * `{"detail"}`, a bare `{"message"}`, else the text itself (shortened; one line).
 */
export function errorMessageOfBody(body: string): string {
  const text = body.trim();
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    const m = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message ?? j.detail);
    if (typeof m === 'string' && m.trim()) return oneLine(m);
    if (m !== undefined) return oneLine(JSON.stringify(m));
  } catch {
    /* not JSON: the text is the message */
  }
  return oneLine(text);
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/**
 * Lines for a terminal, the `show` most common: "2 × HTTP 400: This model's maximum context
 * length is …", then "… and N more requests with other errors". `errors`: all failed requests
 * (reports written before messages were kept have none: then nothing is printed).
 */
export function formatErrorMessages(messages: ErrorMessageCount[] | undefined, errors: number, show = 3, indent = '  '): string[] {
  if (!messages?.length) return [];
  const lines = messages.slice(0, show).map((m) => `${indent}${m.count} × ${/^\d+$/.test(m.status) ? `HTTP ${m.status}` : m.status}${m.message ? `: ${m.message}` : ''}`);
  const rest = errors - messages.slice(0, show).reduce((a, m) => a + m.count, 0);
  if (rest > 0) lines.push(`${indent}… and ${rest} more request${rest === 1 ? '' : 's'} with other errors`);
  return lines;
}
