import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki } from '../helpers/tls.js';

/**
 * A local Kubernetes API server for tests, speaking the list/watch protocol as kube-apiserver
 * does: HTTPS with its own CA, bearer-token and client-certificate authentication, one global
 * resourceVersion counter, LIST with label/field selectors returning the list's
 * resourceVersion, WATCH as a chunked stream of newline-delimited JSON events resumed from a
 * resourceVersion (history replay), objects leaving a label selector arriving as DELETED,
 * BOOKMARK events when asked for, `timeoutSeconds`, and `410 Gone` (an ERROR event carrying a
 * Status) for a resourceVersion older than the last compaction. Every event is written in two
 * chunks so clients must reassemble lines.
 */

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };
interface HistoryEntry {
  rv: number;
  key: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: Obj;
  prev?: Obj;
}
interface Watcher {
  key: string;
  res: ServerResponse;
  labelSelector?: string;
  fieldSelector?: string;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
}
export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  auth: string;
  watch: boolean;
}

export interface FakeKubeApiOptions {
  /** Bearer tokens accepted; a request must carry one of them or a client certificate the CA signed. */
  tokens?: string[];
}

function matchesLabels(obj: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = obj.metadata.labels ?? {};
  return selector.split(',').every((term) => {
    const neq = /^([^!=]+)!=(.*)$/.exec(term);
    if (neq) return labels[neq[1]] !== neq[2];
    const eq = /^([^=]+)==?(.*)$/.exec(term);
    if (eq) return labels[eq[1]] === eq[2];
    return term in labels;
  });
}

function matchesFields(obj: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    if (k === 'metadata.name') return obj.metadata.name === v;
    if (k === 'metadata.namespace') return obj.metadata.namespace === v;
    throw new Error(`fake API: field selector ${k} not supported`);
  });
}

export class FakeKubeApi {
  readonly requests: RequestRecord[] = [];
  rv = 100;
  private compactedRv = 0;
  private readonly collections = new Map<string, Map<string, Obj>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly failures: { path: RegExp; status: number; message: string; times: number; watch?: boolean }[] = [];
  private readonly hangs: RegExp[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly pki: ReturnType<typeof makeTestPki>,
    private opts: FakeKubeApiOptions,
  ) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  static async start(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const pki = makeTestPki();
    const holder: { api?: FakeKubeApi } = {};
    const server = createServer({ key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: false }, (req, res) => holder.api!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    holder.api = new FakeKubeApi(server, (server.address() as AddressInfo).port, pki, opts);
    return holder.api;
  }

  /** Declares a collection (so LIST answers 200 with no items instead of 404). */
  addCollection(key: string): void {
    if (!this.collections.has(key)) this.collections.set(key, new Map());
  }

  /** Creates or replaces an object (ADDED / MODIFIED), bumping the resourceVersion. */
  put(key: string, obj: Obj): Obj {
    this.addCollection(key);
    const coll = this.collections.get(key)!;
    const prev = coll.get(obj.metadata.name);
    const stored: Obj = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    coll.set(stored.metadata.name, stored);
    this.emit({ rv: this.rv, key, type: prev ? 'MODIFIED' : 'ADDED', obj: stored, prev });
    return stored;
  }

  delete(key: string, name: string): void {
    const coll = this.collections.get(key);
    const prev = coll?.get(name);
    if (!coll || !prev) throw new Error(`fake API: no ${key}/${name}`);
    coll.delete(name);
    const obj: Obj = { ...structuredClone(prev), metadata: { ...structuredClone(prev.metadata), resourceVersion: String(++this.rv) } };
    this.emit({ rv: this.rv, key, type: 'DELETED', obj, prev });
  }

  get(key: string, name: string): Obj | undefined {
    return this.collections.get(key)?.get(name);
  }

  /** Forgets history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Ends every open watch stream (as an API server restart or a load balancer would). */
  dropWatches(): void {
    for (const w of this.watchers) {
      clearTimeout(w.timer);
      w.res.end();
    }
    this.watchers.clear();
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) this.write(w.res, { type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Advances the resourceVersion without an event any of our watches sees (another object changed). */
  bumpUnrelated(n = 1): void {
    this.rv += n;
  }

  /** Replaces the accepted bearer tokens (a rotation: the old ones now get 401). */
  setTokens(tokens: string[]): void {
    this.opts.tokens = tokens;
  }

  /** Answers requests whose path matches with a Status error (`times` times, default forever). */
  fail(path: RegExp, status: number, message: string, times = Infinity, opts: { watch?: boolean } = {}): void {
    this.failures.push({ path, status, message, times, watch: opts.watch });
  }

  clearFailures(): void {
    this.failures.length = 0;
    this.hangs.length = 0;
  }

  /** Never answers requests (lists and watches alike) whose path matches, until clearFailures(): a hung API server. */
  hang(path: RegExp): void {
    this.hangs.push(path);
  }

  lists(key: string): number {
    return this.requests.filter((r) => r.path === key && !r.watch && r.method === 'GET').length;
  }

  watches(key: string): RequestRecord[] {
    return this.requests.filter((r) => r.path === key && r.watch);
  }

  openWatches(key: string): number {
    return [...this.watchers].filter((w) => w.key === key).length;
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** A kubeconfig for this server: with a token, the CA-signed client certificate, or an exec plugin. */
  kubeconfig(user: { token?: string; tokenFile?: string; clientCert?: boolean; exec?: { command: string; args?: string[]; env?: { name: string; value: string }[] } }, dir = mkdtempSync(join(tmpdir(), 'kvgate-kc-'))): string {
    const u: Record<string, unknown> = {};
    if (user.token) u.token = user.token;
    if (user.tokenFile) u['token-file'] = user.tokenFile;
    if (user.clientCert) {
      u['client-certificate'] = this.pki.clientCert;
      u['client-key'] = this.pki.clientKey;
    }
    if (user.exec) u.exec = { apiVersion: 'client.authentication.k8s.io/v1beta1', command: user.exec.command, args: user.exec.args ?? [], env: user.exec.env ?? null, interactiveMode: 'Never' };
    const kc = {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'test',
      contexts: [{ name: 'test', context: { cluster: 'fake', user: 'tester' } }],
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority': this.pki.ca } }],
      users: [{ name: 'tester', user: u }],
    };
    const file = join(dir, 'config');
    writeFileSync(file, JSON.stringify(kc, null, 2));
    return file;
  }

  /**
   * A service-account directory as a pod mounts it, under a temporary root, and the environment
   * that makes client-node's in-cluster loader use it (see src/datalayer/sources/kube-config.ts).
   */
  serviceAccount(token: string, namespace: string): { root: string; env: Record<string, string> } {
    const root = mkdtempSync(join(tmpdir(), 'kvgate-sa-'));
    const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'token'), token);
    writeFileSync(join(dir, 'ca.crt'), readFileSync(this.pki.ca));
    writeFileSync(join(dir, 'namespace'), namespace);
    return { root, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(this.port), KVGATE_IN_CLUSTER_ROOT: root } };
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  private write(res: ServerResponse, event: unknown): void {
    const line = `${JSON.stringify(event)}\n`;
    const cut = Math.max(1, Math.floor(line.length / 2));
    res.write(line.slice(0, cut));
    res.write(line.slice(cut));
  }

  private emit(e: HistoryEntry): void {
    this.history.push(e);
    for (const w of this.watchers) if (w.key === e.key) this.deliver(w, e);
  }

  /** Sends an event through a watch's selectors: leaving the selector reads as DELETED, entering as ADDED. */
  private deliver(w: Watcher, e: HistoryEntry): void {
    const match = (o: Obj | undefined) => !!o && matchesLabels(o, w.labelSelector) && matchesFields(o, w.fieldSelector);
    const now = e.type !== 'DELETED' && match(e.obj);
    const before = match(e.prev);
    let type: string | undefined;
    if (e.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    if (type) this.write(w.res, { type, object: e.obj });
  }

  private authorized(req: IncomingMessage): string | undefined {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer && (this.opts.tokens ?? []).includes(bearer)) return `token:${bearer}`;
    const sock = req.socket as TLSSocket;
    if (sock.authorized && sock.getPeerCertificate()?.subject) return `cert:${sock.getPeerCertificate().subject.CN}`;
    if (!this.opts.tokens) return bearer ? `token:${bearer}` : 'anonymous';
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url!, 'https://x');
    const query = Object.fromEntries(u.searchParams);
    const isWatch = query.watch === 'true' || query.watch === '1';
    const auth = this.authorized(req);
    this.requests.push({ method: req.method!, path: u.pathname, query, auth: auth ?? 'rejected', watch: isWatch });
    if (!auth) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    if (this.hangs.some((h) => h.test(u.pathname))) return; // closed by close()'s closeAllConnections
    const failure = this.failures.find((f) => f.times > 0 && f.path.test(u.pathname) && (f.watch === undefined || f.watch === isWatch));
    if (failure) {
      failure.times--;
      return this.status(res, failure.status, failure.status === 403 ? 'Forbidden' : 'InternalError', failure.message);
    }
    if (req.method !== 'GET') return this.status(res, 405, 'MethodNotAllowed', 'the fake API only reads');
    if (u.pathname === '/version') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ major: '1', minor: '31', gitVersion: 'v1.31.2' }));
    const coll = this.collections.get(u.pathname);
    if (coll) return isWatch ? this.watch(u.pathname, query, res) : this.list(coll, query, res);
    const slash = u.pathname.lastIndexOf('/');
    const parent = this.collections.get(u.pathname.slice(0, slash));
    const name = u.pathname.slice(slash + 1);
    if (parent) {
      const obj = parent.get(name);
      if (obj) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      return this.status(res, 404, 'NotFound', `"${name}" not found`);
    }
    this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
  }

  private list(coll: Map<string, Obj>, query: Record<string, string>, res: ServerResponse): void {
    let items = [...coll.values()].filter((o) => matchesLabels(o, query.labelSelector) && matchesFields(o, query.fieldSelector));
    if (query.limit) items = items.slice(0, Number(query.limit));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }));
  }

  private watch(key: string, query: Record<string, string>, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const from = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (from !== undefined && from > 0 && from < this.compactedRv) {
      this.write(res, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } });
      res.end();
      return;
    }
    const w: Watcher = { key, res, labelSelector: query.labelSelector, fieldSelector: query.fieldSelector, bookmarks: query.allowWatchBookmarks === 'true' };
    if (from === undefined || from === 0) {
      // No resourceVersion: the current state as ADDED events, then changes.
      for (const o of this.collections.get(key)!.values()) if (matchesLabels(o, w.labelSelector) && matchesFields(o, w.fieldSelector)) this.write(res, { type: 'ADDED', object: o });
    } else {
      for (const e of this.history) if (e.key === key && e.rv > from) this.deliver(w, e);
    }
    if (query.timeoutSeconds) {
      w.timer = setTimeout(() => {
        this.watchers.delete(w);
        res.end();
      }, Number(query.timeoutSeconds) * 1000);
    }
    this.watchers.add(w);
    res.on('close', () => {
      clearTimeout(w.timer);
      this.watchers.delete(w);
    });
  }
}

// ---- objects ----

export const PODS = (ns: string) => `/api/v1/namespaces/${ns}/pods`;
export const POOLS_V1 = (ns: string) => `/apis/inference.networking.k8s.io/v1/namespaces/${ns}/inferencepools`;
export const POOLS_V1ALPHA2 = (ns: string) => `/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/${ns}/inferencepools`;
export const OBJECTIVES = (ns: string) => `/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/${ns}/inferenceobjectives`;

export function pod(name: string, o: { ns?: string; ip?: string; ready?: boolean; labels?: Record<string, string>; annotations?: Record<string, string>; deleting?: boolean }): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'ns', labels: o.labels ?? { app: 'qwen' }, annotations: o.annotations, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { containers: [{ name: 'vllm', image: 'vllm/vllm-openai' }] },
    status: { phase: 'Running', podIP: o.ip, conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

export function poolV1(name: string, selector: Record<string, string>, ports: number[], ns = 'ns'): Obj {
  return { apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', metadata: { name, namespace: ns }, spec: { selector: { matchLabels: selector }, targetPorts: ports.map((number) => ({ number })), endpointPickerRef: { name: `${name}-epp`, port: { number: 9002 } } } };
}

export function poolV1alpha2(name: string, selector: Record<string, string>, port: number, ns = 'ns'): Obj {
  return { apiVersion: 'inference.networking.x-k8s.io/v1alpha2', kind: 'InferencePool', metadata: { name, namespace: ns }, spec: { selector, targetPortNumber: port, extensionRef: { name: `${name}-epp` } } };
}

export function objective(name: string, priority: number | undefined, poolName: string, ns = 'ns'): Obj {
  return { apiVersion: 'inference.networking.x-k8s.io/v1alpha2', kind: 'InferenceObjective', metadata: { name, namespace: ns }, spec: { ...(priority === undefined ? {} : { priority }), poolRef: { name: poolName } } };
}

/** Polls until `f` is true (tests never sleep a fixed time). */
export async function until(f: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
