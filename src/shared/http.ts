import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvgateError, ErrorCode, toOpenAIError } from './errors.js';

/**
 * Bytes of request bodies held in memory across all connections, against one limit: a body is
 * charged as its bytes arrive and released by its owner once the request is over.
 */
export class ByteBudget {
  private held = 0;

  /** `limit` bytes; Infinity = unbounded. */
  constructor(readonly limit: number) {}

  /** Bytes held now. */
  get used(): number {
    return this.held;
  }

  /** Charges `n` bytes if they fit; false (and nothing charged) if not. */
  tryTake(n: number): boolean {
    if (this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  release(n: number): void {
    this.held = Math.max(0, this.held - n);
  }
}

export interface ReadBodyOptions {
  /** Charge the body here as it arrives; over the budget → 503 with Retry-After, nothing more buffered. */
  budget?: ByteBudget;
  /** No body byte for this long (ms) → 408. 0 = none. */
  idleTimeoutMs?: number;
  /** The whole body not in this long (ms) after reading starts → 408. 0 = none. */
  timeoutMs?: number;
}

// Bodies announced at least this big are copied into one buffer that doubles up to the announced
// size (so a client announcing 16 MiB and sending little costs little): a few large allocations to
// free, not hundreds of 64 KiB socket chunks left in the allocator's heap.
const PREALLOCATE_FROM = 256 * 1024;
const FIRST_BUFFER = 1024 * 1024;

/**
 * Reads a request body up to `limit` bytes (past that: BodyTooLarge 413 without buffering more).
 * With `opts`: each byte is charged to `opts.budget` as it arrives (over it: Overloaded 503,
 * `retry-after`), and a client that stalls (`idleTimeoutMs`) or takes too long overall
 * (`timeoutMs`) gets RequestTimeout 408. Errors that leave the rest of the body unread carry
 * `connection: close`, and the buffered bytes are released before the promise rejects: a slow or
 * never-ending body costs nothing once it failed. On success the caller owns the charge and
 * releases `body.length` bytes from the budget when the request is over.
 */
export function readBody(req: IncomingMessage, limit: number, opts: ReadBodyOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new KvgateError(ErrorCode.BodyTooLarge, `request body is ${declared} bytes; the limit is ${limit}`));
      return;
    }
    const budget = opts.budget;
    let chunks: Buffer[] = [];
    let whole: Buffer | undefined = Number.isFinite(declared) && declared >= PREALLOCATE_FROM ? Buffer.allocUnsafeSlow(Math.min(declared, FIRST_BUFFER)) : undefined;
    let size = 0;
    let done = false;
    let idle: NodeJS.Timeout | undefined;
    let total: NodeJS.Timeout | undefined;
    const cleanup = () => {
      done = true;
      clearTimeout(idle);
      clearTimeout(total);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const fail = (err: Error, drain: boolean) => {
      if (done) return;
      cleanup();
      budget?.release(size);
      chunks = [];
      whole = undefined;
      if (drain) req.resume();
      else req.pause();
      reject(err);
    };
    const closing = { connection: 'close' };
    const onData = (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        size -= c.length;
        return fail(new KvgateError(ErrorCode.BodyTooLarge, `request body exceeds the limit of ${limit} bytes`), true);
      }
      if (budget && !budget.tryTake(c.length)) {
        size -= c.length;
        return fail(new KvgateError(ErrorCode.Overloaded, `the gateway holds its limit of buffered request bytes (${budget.limit}); retry shortly`, { headers: { 'retry-after': '1', ...closing } }), false);
      }
      if (whole && size > whole.length && size <= declared) {
        const bigger = Buffer.allocUnsafeSlow(Math.min(declared, Math.max(size, whole.length * 2)));
        whole.copy(bigger, 0, 0, size - c.length);
        whole = bigger;
      }
      if (whole && size <= whole.length) c.copy(whole, size - c.length);
      else {
        if (whole) {
          // More bytes than announced: Node's parser stops at content-length, so this is only a
          // defensive path; keep what was copied and continue as chunks.
          chunks.push(whole.subarray(0, size - c.length));
          whole = undefined;
        }
        chunks.push(c);
      }
      if (opts.idleTimeoutMs) idle?.refresh();
    };
    const onEnd = () => {
      if (done) return;
      cleanup();
      if (whole) resolve(whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onError = (err: Error) => fail(err, false);
    const onAborted = () => fail(new KvgateError(ErrorCode.InvalidRequest, 'the client closed the connection before sending the whole body', { status: 499 }), false);
    if (opts.idleTimeoutMs) {
      idle = setTimeout(() => fail(new KvgateError(ErrorCode.RequestTimeout, `no request body bytes for ${opts.idleTimeoutMs! / 1000} s (--request-body-idle-timeout)`, { headers: closing }), false), opts.idleTimeoutMs);
    }
    if (opts.timeoutMs) {
      total = setTimeout(() => fail(new KvgateError(ErrorCode.RequestTimeout, `the request body was not received within ${opts.timeoutMs! / 1000} s (--request-body-timeout)`, { headers: closing }), false), opts.timeoutMs);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Sends `body` as JSON with its length; `headOnly` (a HEAD request) sends the headers alone. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, headOnly = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(headOnly ? undefined : text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body, headers } = toOpenAIError(err);
  sendJson(res, status, body, headers);
}

export function parseJsonBody(buf: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidJson, `invalid JSON body: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new KvgateError(ErrorCode.InvalidRequest, 'request body must be a JSON object');
  }
  return v as Record<string, unknown>;
}
