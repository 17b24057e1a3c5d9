import { request, type Dispatcher } from 'undici';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { v1SuffixHint } from '../../shared/v1-url-hint.js';
import type { FleetEvent } from '../fleet-snapshot.js';

export interface FeedOptions {
  /** Gateway or EPP metrics-port base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
  signal?: AbortSignal;
  /**
   * Longest wait, in ms, for the response headers and then between two chunks of the stream
   * (default FEED_SILENCE_MS). The dashboard answers at once and sends an event every second, so
   * a longer silence is a server that is not one (or a proxy holding the stream back).
   */
  silenceMs?: number;
}

/**
 * 10 s: ten of the dashboard's one-second ticks. Without a limit, `top --once` against a server
 * that accepted the connection and never answered waited for undici's 300 s headers timeout.
 */
export const FEED_SILENCE_MS = 10_000;

/**
 * Reads `GET {url}/dashboard/events` (Server-Sent Events) and yields each `fleet` event, parsed.
 * Throws a KvgateError naming the URL on connection failure, a non-200 status (with the server's
 * error message) or a malformed event; ends when the server closes the stream or `signal` aborts.
 */
export async function* readFleetEvents(o: FeedOptions): AsyncGenerator<FleetEvent> {
  const base = o.url.replace(/\/+$/, '');
  const target = `${base}/dashboard/events`;
  const silence = o.silenceMs ?? FEED_SILENCE_MS;
  let res: Dispatcher.ResponseData;
  try {
    // undici's request, not fetch: fetch refuses the WHATWG "bad ports" (1, 9, 6000, 6667, …)
    // before connecting, with a bare "bad port", though a gateway may listen on any of them.
    res = await request(target, { headers: { accept: 'text/event-stream', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) }, signal: o.signal, headersTimeout: silence, bodyTimeout: silence });
  } catch (err) {
    if (o.signal?.aborted) return;
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const code = e.code ?? e.cause?.code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT') throw new KvgateError(ErrorCode.UpstreamFailed, `${target} did not answer in ${silence / 1000} s (is this a kvgate gateway or EPP metrics port?)`, { param: 'url' });
    throw new KvgateError(ErrorCode.UpstreamFailed, `cannot reach ${target}: ${code === 'ECONNREFUSED' ? 'connection refused' : (e.cause?.message ?? e.message)}`, { param: 'url' });
  }
  if (res.statusCode !== 200) {
    let detail = '';
    try {
      detail = ((await res.body.json()) as { error?: { message?: string } }).error?.message ?? '';
    } catch {
      /* not JSON */
    }
    const status = res.statusCode;
    // A base URL copied from an OpenAI client (…/v1) asks for /v1/dashboard/events: say so, as verify and bench do.
    const hint = status === 401 ? ' (pass --api-key)' : status === 404 ? v1SuffixHint(base, status, 'top', '/dashboard/events') || ' (is this a kvgate gateway or EPP metrics port?)' : '';
    throw new KvgateError(status === 401 ? ErrorCode.Unauthorized : ErrorCode.UpstreamFailed, `GET ${target} → ${status}${detail ? `: ${detail}` : ''}${hint}`, { param: status === 401 ? 'api-key' : 'url' });
  }
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trimStart();
        }
        if (event !== 'fleet' || !data) continue;
        try {
          yield JSON.parse(data) as FleetEvent;
        } catch {
          throw new KvgateError(ErrorCode.UpstreamFailed, `${target} sent an event that is not JSON`, { param: 'url' });
        }
      }
    }
  } catch (err) {
    if (o.signal?.aborted) return;
    if ((err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT') throw new KvgateError(ErrorCode.UpstreamFailed, `${target} sent nothing for ${silence / 1000} s (the dashboard sends an event every second)`, { param: 'url' });
    throw err;
  } finally {
    // The caller may stop after one event (top --once): close the stream, not just stop reading.
    res.body.destroy();
  }
}
