import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvgateError, ErrorCode, toOpenAIError } from './errors.js';
import { DeadlineSweeper, type Expiring } from './deadline-sweeper.js';

/**
 * Bytes of request bodies held in memory across all connections, against one limit: a body is
 * charged as its bytes arrive and released by its owner once the request is over.
 */
export class ByteBudget {
  private held = 0;

  /** `limit` bytes; Infinity = unbounded. `onRelease` hears every release (memory relief). */
  constructor(
    readonly limit: number,
    private readonly onRelease?: (bytes: number) => void,
  ) {}

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
    if (n > 0) this.onRelease?.(n);
  }
}

export interface ReadBodyOptions {
  /** Charge the body here as it arrives; over the budget → 503 with Retry-After, nothing more buffered. */
  budget?: ByteBudget;
  /** No body byte for this long (ms) → 408. 0 = none. */
  idleTimeoutMs?: number;
  /** The whole body not in this long (ms) after reading starts → 408. 0 = none. */
  timeoutMs?: number;
  /**
   * The sweep that checks both timeouts (default: one shared sweep every 100 ms). No timer per
   * request: on a server's hot path a Node timer armed and cleared per request costs more than a
   * slot in a sweep, and a timeout of seconds needs no millisecond precision (it fires within one
   * sweep period).
   */
  sweeper?: DeadlineSweeper;
}

let sharedSweeper: DeadlineSweeper | undefined;

// Announced bodies at least this big are read into one buffer of the announced size (its pages are
// committed only as bytes arrive): one allocation to free, not hundreds of 64 KiB socket chunks.
const PREALLOCATE_FROM = 64 * 1024;

/**
 * Reads a request body up to `limit` bytes (past that: BodyTooLarge 413 without buffering more).
 * With `opts.budget`, the body is charged to it — an announced length (content-length) all at
 * once before anything is read, a chunked body as its bytes arrive — and over the budget the
 * request gets Overloaded 503 with `retry-after` and nothing (more) is buffered. A client that
 * stalls (`idleTimeoutMs`) or takes too long overall (`timeoutMs`) gets RequestTimeout 408.
 * Errors that leave the rest of the body unread carry `connection: close`, and the charge is
 * released before the promise rejects: a slow or never-ending body costs nothing once it failed.
 * On success the caller owns the charge (`body.length` bytes) and releases it when the request is over.
 */
export function readBody(req: IncomingMessage, limit: number, opts: ReadBodyOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const announced = req.headers['content-length'] !== undefined && Number.isFinite(declared);
    if (announced && declared > limit) {
      req.resume();
      reject(new KvgateError(ErrorCode.BodyTooLarge, `request body is ${declared} bytes; the limit is ${limit}`));
      return;
    }
    const closing = { connection: 'close' };
    const sweeper = opts.sweeper ?? (sharedSweeper ??= new DeadlineSweeper(100));
    const overBudget = (b: ByteBudget) => new KvgateError(ErrorCode.Overloaded, `the gateway holds its limit of buffered request bytes (${b.limit}, --max-buffered-bytes); retry shortly`, { headers: { 'retry-after': '1', ...closing } });
    const budget = opts.budget;
    if (announced && budget && !budget.tryTake(declared)) {
      req.pause();
      reject(overBudget(budget));
      return;
    }
    let charged = announced && budget ? declared : 0;
    let chunks: Buffer[] = [];
    let whole: Buffer | undefined = announced && declared >= PREALLOCATE_FROM ? Buffer.allocUnsafeSlow(declared) : undefined;
    let size = 0;
    let done = false;
    let watch: (Expiring & { idleAt: number; totalAt: number }) | undefined;
    const cleanup = () => {
      done = true;
      if (watch) sweeper.remove(watch);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const fail = (err: Error, drain: boolean) => {
      if (done) return;
      cleanup();
      budget?.release(charged);
      chunks = [];
      whole = undefined;
      if (drain) req.resume();
      else req.pause();
      reject(err);
    };
    const onData = (c: Buffer) => {
      if (done) return;
      if (size + c.length > limit || (announced && size + c.length > declared)) {
        return fail(new KvgateError(ErrorCode.BodyTooLarge, `request body exceeds the limit of ${limit} bytes`), true);
      }
      if (!announced && budget) {
        if (!budget.tryTake(c.length)) return fail(overBudget(budget), false);
        charged += c.length;
      }
      if (whole) c.copy(whole, size);
      else chunks.push(c);
      size += c.length;
      if (watch && opts.idleTimeoutMs) watch.deadlineAt = Math.min((watch.idleAt = performance.now() + opts.idleTimeoutMs), watch.totalAt);
    };
    const onEnd = () => {
      if (done) return;
      cleanup();
      // The charge must equal what the caller will release (body.length).
      if (budget && charged !== size) {
        budget.release(charged - size);
        charged = size;
      }
      if (whole) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onError = (err: Error) => fail(err, false);
    const onAborted = () => fail(new KvgateError(ErrorCode.InvalidRequest, 'the client closed the connection before sending the whole body', { status: 499 }), false);
    if (opts.idleTimeoutMs || opts.timeoutMs) {
      const now = performance.now();
      const idleAt = opts.idleTimeoutMs ? now + opts.idleTimeoutMs : Infinity;
      const totalAt = opts.timeoutMs ? now + opts.timeoutMs : Infinity;
      const expire = () =>
        fail(
          new KvgateError(
            ErrorCode.RequestTimeout,
            watch!.idleAt <= watch!.totalAt
              ? `no request body bytes for ${opts.idleTimeoutMs! / 1000} s (--request-body-idle-timeout)`
              : `the request body was not received within ${opts.timeoutMs! / 1000} s (--request-body-timeout)`,
            { headers: closing },
          ),
          false,
        );
      watch = { idleAt, totalAt, deadlineAt: Math.min(idleAt, totalAt), expire };
      sweeper.add(watch);
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
