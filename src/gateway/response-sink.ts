import { Writable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { UsageTap } from '../router/observability/usage-tap.js';

/** Forwards upstream body chunks to the client as they arrive (no buffering), tapping them for usage. */
export class ResponseSink extends Writable {
  private first = true;

  constructor(
    private readonly res: ServerResponse,
    private readonly tap: UsageTap,
    private readonly onFirstByte: () => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.first) {
      this.first = false;
      this.onFirstByte();
    }
    this.tap.push(chunk);
    if (this.res.destroyed) return cb(new Error('client closed'));
    if (this.res.write(chunk)) cb();
    else this.res.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.res.end();
    cb();
  }
}

/** Swallows the body of an upstream response we are not going to forward (before a retry). */
export class DiscardSink extends Writable {
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
}
