import { KvgateError, ErrorCode } from '../../shared/errors.js';
import type { FleetEvent } from '../fleet-snapshot.js';

export interface FeedOptions {
  /** Gateway or EPP metrics-port base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
  signal?: AbortSignal;
}

/**
 * Reads `GET {url}/dashboard/events` (Server-Sent Events) and yields each `fleet` event, parsed.
 * Throws a KvgateError naming the URL on connection failure, a non-200 status (with the server's
 * error message) or a malformed event; ends when the server closes the stream or `signal` aborts.
 */
export async function* readFleetEvents(o: FeedOptions): AsyncGenerator<FleetEvent> {
  const target = `${o.url.replace(/\/+$/, '')}/dashboard/events`;
  let res: Response;
  try {
    res = await fetch(target, { headers: { accept: 'text/event-stream', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) }, signal: o.signal });
  } catch (err) {
    if (o.signal?.aborted) return;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new KvgateError(ErrorCode.UpstreamFailed, `cannot reach ${target}: ${cause?.code === 'ECONNREFUSED' ? 'connection refused' : (cause?.message ?? (err as Error).message)}`, { param: 'url' });
  }
  if (res.status !== 200 || !res.body) {
    let detail = '';
    try {
      detail = ((await res.json()) as { error?: { message?: string } }).error?.message ?? '';
    } catch {
      /* not JSON */
    }
    const hint = res.status === 401 ? ' (pass --api-key)' : res.status === 404 ? ' (is this a kvgate gateway or EPP metrics port?)' : '';
    throw new KvgateError(res.status === 401 ? ErrorCode.Unauthorized : ErrorCode.UpstreamFailed, `GET ${target} → ${res.status}${detail ? `: ${detail}` : ''}${hint}`, { param: res.status === 401 ? 'api-key' : 'url' });
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
    throw err;
  }
}
