import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { sendError, sendJson } from '../shared/http.js';
import type { FleetRecorder } from './fleet-recorder.js';
import type { FleetEvent } from './fleet-snapshot.js';

export interface DashboardOptions {
  /**
   * The ingress's API-key check, given an `Authorization` header value ("Bearer KEY") or undefined;
   * returns true when allowed (always, when no keys are set). The dashboard builds that value from the
   * request's Authorization header or `?api_key=` on /dashboard; its `kvgate_dashboard_key` cookie
   * is a token it issued itself (see serveDashboard), never the key.
   */
  authorize?: (authorization: string | undefined) => boolean;
  /** Most concurrent SSE viewers; more get 503. Default 32. */
  maxViewers?: number;
}

/** The built page: `npm run build` (scripts/build-dashboard.mjs) writes it; src/ and dist/ both sit two levels below the package root. */
const ASSET = fileURLToPath(new URL('../../dist/dashboard/index.html', import.meta.url));
const COOKIE = 'kvgate_dashboard_key';
let page: Buffer | undefined;

function dashboardPage(): Buffer {
  if (!page) {
    try {
      page = readFileSync(ASSET);
    } catch {
      throw new KvgateError(ErrorCode.NotReady, `the dashboard page is not built (${ASSET} missing): run \`npm run build\``, { status: 503 });
    }
  }
  return page;
}

/** The SSE viewers of one recorder: one serialisation per tick, shared by all of them. */
class Feed {
  readonly viewers = new Set<ServerResponse>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly recorder: FleetRecorder) {}

  add(res: ServerResponse): void {
    this.viewers.add(res);
    if (!this.unsubscribe) this.unsubscribe = this.recorder.subscribe((e) => this.broadcast(e));
    res.on('close', () => {
      this.viewers.delete(res);
      if (this.viewers.size === 0 && this.unsubscribe) {
        this.unsubscribe();
        this.unsubscribe = undefined;
      }
    });
  }

  private broadcast(e: FleetEvent): void {
    const frame = `event: fleet\ndata: ${JSON.stringify(e)}\n\n`;
    for (const res of this.viewers) {
      // A viewer that cannot keep up skips frames instead of buffering them without bound.
      if (res.writableNeedDrain) continue;
      res.write(frame);
    }
  }
}

const feeds = new WeakMap<FleetRecorder, Feed>();

/**
 * The login cookie's value is a token derived from the key, HMAC-SHA256 under a secret drawn at
 * process start: the browser never stores the key, and a restart (the only way the gateway's keys
 * change) invalidates every cookie. A token counts only where it was issued — the tokens one
 * dashboard (one recorder: one gateway) handed out after its own key check. The same key gives
 * the same token, so each dashboard keeps at most one per key that logged in (capped, oldest out).
 */
const TOKEN_SECRET = randomBytes(32);
const MAX_TOKENS = 1024;
const issued = new WeakMap<FleetRecorder, Set<string>>();

function tokenOf(key: string): string {
  return createHmac('sha256', TOKEN_SECRET).update(key).digest('base64url');
}

function issueToken(recorder: FleetRecorder, key: string): string {
  let tokens = issued.get(recorder);
  if (!tokens) issued.set(recorder, (tokens = new Set()));
  const token = tokenOf(key);
  tokens.delete(token);
  tokens.add(token);
  if (tokens.size > MAX_TOKENS) tokens.delete(tokens.values().next().value!);
  return token;
}

function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The request's credentials: an Authorization header, `?api_key=` (to log in), or a token cookie this dashboard issued. */
function credentialsOf(req: IncomingMessage, url: URL, recorder: FleetRecorder): { authorization: string | undefined; fromQuery: boolean; cookie: boolean } {
  if (req.headers.authorization) return { authorization: req.headers.authorization, fromQuery: false, cookie: false };
  const q = url.searchParams.get('api_key');
  if (q) return { authorization: `Bearer ${q}`, fromQuery: true, cookie: false };
  const token = cookieOf(req);
  return { authorization: undefined, fromQuery: false, cookie: token !== undefined && issued.get(recorder)?.has(token) === true };
}

/** The login form; `refused` adds a line saying the key just given was not accepted. */
const loginPage = (refused: boolean) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>kvgate dashboard — API key</title>
<style>body{font:16px system-ui,sans-serif;background:#0f1419;color:#e6e6e6;display:grid;place-items:center;min-height:90vh;margin:0}form{display:grid;gap:.6em;padding:1.5em;background:#1a2129;border-radius:8px;max-width:22em;width:85%}input,button{font:inherit;padding:.5em;border-radius:4px;border:1px solid #445}button{background:#2f6fdd;color:#fff;border:0}</style></head>
<body><form method="get" action="/dashboard"><label for="k">This gateway requires an API key.</label>${refused ? '<p role="alert" style="margin:0;color:#ff7b72">That key was refused: try again.</p>' : ''}<input id="k" name="api_key" type="password" autocomplete="current-password" required><button>Open the dashboard</button></form></body></html>`;

/**
 * Serves the live dashboard for one recorder:
 * - `GET /dashboard` — the page (HTML + bundled JS/CSS, no external requests);
 * - `GET /dashboard/events` — Server-Sent Events, one `fleet` event (`FleetEvent` JSON) on connect
 *   with the history, then one per second with the newest point;
 * - `GET /dashboard/snapshot` — one `FleetEvent` with history, as JSON.
 * With API keys set, each needs a key: `Authorization: Bearer KEY`, or the `kvgate_dashboard_key`
 * cookie that `GET /dashboard?api_key=KEY` sets (HttpOnly, SameSite=Strict) before redirecting to
 * /dashboard, since a browser's EventSource cannot send headers. The cookie holds a token derived
 * from the key (HMAC-SHA256 under a per-process secret), not the key; see TOKEN_SECRET. Without a key the page answers
 * 401 with a form asking for one (after a refused ?api_key=, saying it was refused), the other paths 401 with an OpenAI-style error.
 *
 * Returns false when the path is not the dashboard's (the caller routes it elsewhere).
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, recorder: FleetRecorder, opts: DashboardOptions = {}): boolean {
  const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  if (path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${req.method} is not allowed on ${path}`);
    if (path !== '/dashboard' && path !== '/dashboard/events' && path !== '/dashboard/snapshot') throw new KvgateError(ErrorCode.NotFound, `no route for ${path}`);
    const { authorization, fromQuery, cookie } = credentialsOf(req, url, recorder);
    const allowed = cookie || !opts.authorize || opts.authorize(authorization);
    if (!allowed) {
      if (path === '/dashboard') {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'www-authenticate': 'Bearer', 'cache-control': 'no-store' }).end(loginPage(fromQuery));
        return true;
      }
      throw new KvgateError(ErrorCode.Unauthorized, 'Incorrect API key provided.', { headers: { 'www-authenticate': 'Bearer' } });
    }
    if (path === '/dashboard') {
      if (fromQuery) {
        // Move the key out of the URL (history, logs); the cookie, scoped to the dashboard, holds a token derived from it.
        const secure = (req.socket as { encrypted?: boolean }).encrypted ? '; Secure' : '';
        res.writeHead(303, { location: '/dashboard', 'set-cookie': `${COOKIE}=${issueToken(recorder, authorization!.slice(7))}; Path=/dashboard; HttpOnly; SameSite=Strict${secure}`, 'cache-control': 'no-store' }).end();
        return true;
      }
      const body = dashboardPage();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-cache', 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:", 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (path === '/dashboard/snapshot') {
      sendJson(res, 200, { snapshot: recorder.snapshot(), history: recorder.historyPoints() } satisfies FleetEvent, { 'cache-control': 'no-store' });
      return true;
    }
    let feed = feeds.get(recorder);
    if (!feed) feeds.set(recorder, (feed = new Feed(recorder)));
    if (feed.viewers.size >= (opts.maxViewers ?? 32)) throw new KvgateError(ErrorCode.NotReady, 'too many dashboard viewers; try again later', { status: 503, headers: { 'retry-after': '5' } });
    const sseHeaders = { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };
    // HEAD gets the headers and its end: Node drops a HEAD response's writes without sending the
    // headers, so a HEAD viewer waited forever with nothing and held one of the viewer slots.
    if (req.method === 'HEAD') {
      res.writeHead(200, sseHeaders).end();
      return true;
    }
    res.writeHead(200, sseHeaders);
    const first: FleetEvent = { snapshot: recorder.snapshot(), history: recorder.historyPoints() };
    res.write(`retry: 2000\nevent: fleet\ndata: ${JSON.stringify(first)}\n\n`);
    feed.add(res);
  } catch (err) {
    sendError(res, err);
  }
  return true;
}
