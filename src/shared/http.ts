import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvgateError, ErrorCode, toOpenAIError } from './errors.js';

/** Reads a request body up to `limit` bytes; past that throws BodyTooLarge without buffering more. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new KvgateError(ErrorCode.BodyTooLarge, `request body is ${declared} bytes; the limit is ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new KvgateError(ErrorCode.BodyTooLarge, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
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
