import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeyDigests } from '../shared/key-digests.js';

/** The path prefixes vLLM's AuthenticationMiddleware guards (its GUARDED_PREFIX); plain string prefixes, so `/v10` is guarded too. */
export const GUARDED_PREFIXES: readonly string[] = ['/v1', '/v2', '/inference', '/cohere'];

/** vLLM's 401 body, byte for byte (Starlette's JSONResponse of {"error": "Unauthorized"}: compact separators). */
export const UNAUTHORIZED_BODY = '{"error":"Unauthorized"}';

/** The request path as Starlette's scope["path"] holds it: percent-decoded (left raw when it does not decode). */
function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * `kvgate sim --api-key` (and $VLLM_API_KEY), as vLLM's AuthenticationMiddleware
 * (vllm/entrypoints/serve/utils/server_utils.py, installed by api_server's build_app when keys are
 * given):
 * - OPTIONS requests are never checked (CORS preflights pass to the CORS layer);
 * - a path starting with /v1, /v2, /inference or /cohere needs `Authorization: <scheme> <token>`,
 *   split at the first space, the scheme `bearer` in any case and the token, as sent (not
 *   trimmed), equal to one of the keys (constant time: shared/key-digests.ts);
 * - anything else (/health, /metrics, /tokenize, /version, /reset_prefix_cache, …) is open.
 * vLLM adds this middleware after CORS, so it runs first: a refused request carries no CORS headers.
 */
export class ApiKeyGuard {
  private readonly keys: KeyDigests;

  constructor(keys: readonly string[]) {
    this.keys = new KeyDigests(keys);
  }

  /** True when the request must be refused with 401. `path` is the request target without its query. */
  refuses(method: string | undefined, path: string, authorization: string | undefined): boolean {
    if (method === 'OPTIONS') return false;
    const p = decodedPath(path);
    if (!GUARDED_PREFIXES.some((g) => p.startsWith(g))) return false;
    return !this.accepts(authorization);
  }

  private accepts(authorization: string | undefined): boolean {
    if (!authorization) return false;
    const space = authorization.indexOf(' ');
    const scheme = space < 0 ? authorization : authorization.slice(0, space);
    if (scheme.toLowerCase() !== 'bearer') return false;
    return this.keys.matches(space < 0 ? '' : authorization.slice(space + 1));
  }

  /** Answers `req` with vLLM's 401 (the request body, if any, is drained). */
  static refuse(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(UNAUTHORIZED_BODY) }).end(UNAUTHORIZED_BODY);
  }
}
