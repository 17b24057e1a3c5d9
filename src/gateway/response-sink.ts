import { Writable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { RequestHandle } from '../router/requestcontrol/index.js';
import { ErrorCode } from '../shared/errors.js';

/**
 * Told when a sink takes a chunk (`waiting` false) and when it holds the next one back until the
 * client drains (`waiting` true): the upstream idle timeout counts only the upstream's own pauses.
 */
export type SinkActivity = (waiting: boolean) => void;

/**
 * Forwards upstream body chunks to the client as they arrive (no buffering), through the request
 * handle (first byte, usage, and — when kvgate asked for usage the client did not — the removal
 * of the extra usage event). The response is committed (status and headers written) at the first
 * body byte, so an upstream that sends headers and then nothing can still be failed over.
 * Back-pressure: the next chunk is taken only once the client drained, so undici stops reading
 * the upstream socket while a client does not read.
 */
export class ResponseSink extends Writable {
  private committed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly handle: RequestHandle,
    private readonly commit: () => void,
    private readonly activity?: SinkActivity,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.committed) {
      this.committed = true;
      this.commit();
    }
    const out = this.handle.responseChunk(chunk);
    if (this.res.destroyed) return cb(new Error('client closed'));
    this.activity?.(false);
    if (out.length === 0 || this.res.write(out)) cb();
    else {
      this.activity?.(true);
      this.res.once('drain', () => {
        this.activity?.(false);
        cb();
      });
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.committed) {
      this.committed = true;
      this.commit();
    }
    const rest = this.handle.responseEnd();
    const cut = this.handle.truncated;
    if (cut === undefined) this.res.end(rest.length ? rest : undefined);
    else {
      // A stream without data: [DONE] was cut short: ended as a reset mid-stream is.
      if (rest.length) this.res.write(rest);
      this.res.end(this.handle.streamError(cut, ErrorCode.UpstreamFailed));
    }
    cb();
  }
}

/** Swallows the body of an upstream response we are not going to forward (before a retry). */
export class DiscardSink extends Writable {
  constructor(private readonly activity?: SinkActivity) {
    super();
  }

  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.activity?.(false);
    cb();
  }
}
