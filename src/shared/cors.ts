import type { IncomingMessage, ServerResponse } from 'node:http';

// The methods a preflight allows, as Starlette's CORSMiddleware lists them for allow_methods=["*"].
const ALLOW_METHODS = 'DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT';
// How long a browser may cache a preflight answer, s (Starlette's default max_age).
const MAX_AGE_S = '600';

/**
 * Cross-origin requests as vLLM's OpenAI server answers them (FastAPI's CORSMiddleware with
 * `--allowed-origins` default `["*"]`, credentials off, every method and header allowed): a
 * browser page on another origin can call the gateway as it would call vLLM.
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here,
 *   before authentication (browsers send no credentials on it): 200 with the allowed method list,
 *   the requested headers echoed and a max age of 600 s; 400 "Disallowed CORS origin" for an
 *   origin not allowed.
 * - Any other request with an allowed `Origin` gets `access-control-allow-origin` (`*`, or the
 *   origin itself with `vary: Origin` when the list is explicit).
 * Requests without `Origin` (every non-browser client) are untouched.
 */
export class Cors {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  /** `allowedOrigins`: exact origins (`https://app.example.com`) or `*` for any. */
  constructor(allowedOrigins: readonly string[]) {
    this.any = allowedOrigins.includes('*');
    this.origins = new Set(allowedOrigins);
  }

  private allows(origin: string): boolean {
    return this.any || this.origins.has(origin);
  }

  /**
   * Handles the CORS side of a request that carries `Origin`: answers a preflight (returns true:
   * the request is done) or sets the response's allow-origin header (returns false: go on).
   */
  handle(req: IncomingMessage, res: ServerResponse, origin: string): boolean {
    const allowed = this.allows(origin);
    const requested = req.headers['access-control-request-method'];
    if (req.method === 'OPTIONS' && requested !== undefined) {
      if (!allowed) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 22, vary: 'Origin' }).end('Disallowed CORS origin');
        return true;
      }
      const headers: Record<string, string | number> = {
        'access-control-allow-origin': this.any ? '*' : origin,
        'access-control-allow-methods': ALLOW_METHODS,
        'access-control-max-age': MAX_AGE_S,
        'content-length': 0,
      };
      const asked = req.headers['access-control-request-headers'];
      if (asked) headers['access-control-allow-headers'] = asked;
      if (!this.any) headers.vary = 'Origin';
      res.writeHead(200, headers).end();
      return true;
    }
    if (allowed) {
      res.setHeader('access-control-allow-origin', this.any ? '*' : origin);
      if (!this.any) res.setHeader('vary', 'Origin');
    }
    return false;
  }
}
