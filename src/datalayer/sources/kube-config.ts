import { accessSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { useTokenFile } from './token-file-auth.js';

/**
 * Where @kubernetes/client-node's `loadFromCluster(pathPrefix)` reads a pod's service account:
 * `${prefix}/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`.
 */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Environment variable naming the root under which the service-account directory is read
 * (default `/`, i.e. the path a pod mounts). It is client-node's own `pathPrefix`, so tests and a
 * copied service account outside a pod go through the same loader as production.
 */
export const IN_CLUSTER_ROOT_ENV = 'KVGATE_IN_CLUSTER_ROOT';

export interface KubeConfigOptions {
  /** `--kubeconfig`: a kubeconfig file that must exist. */
  kubeconfig?: string;
  /** Environment to read (default process.env): KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT, HOME, KVGATE_IN_CLUSTER_ROOT. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedKubeConfig {
  /**
   * client-node's KubeConfig, typed `object` so that kvgate's public declarations do not import
   * client-node's (a consumer's tsc would need @types/ws); kvgate's code reads it with
   * `kubeConfigOf()` (kube-client.ts).
   */
  kc: object;
  /** How the credentials were found, for logs and preflight: "in-cluster service account" or "kubeconfig FILE". */
  source: string;
  server: string;
  context: string;
  /** The context's namespace (in a pod: the service account's namespace file). */
  namespace?: string;
  /** `exec` credential plugin command, when the user has one (GKE's gke-gcloud-auth-plugin). */
  execCommand?: string;
}

function readable(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

function finish(kc: KubeConfig, source: string): LoadedKubeConfig {
  const context = kc.getCurrentContext();
  const ctx = kc.getContextObject(context);
  const cluster = kc.getCurrentCluster();
  if (!ctx || !cluster) throw new KvgateError(ErrorCode.InvalidConfig, `${source}: current-context "${context ?? ''}" does not name a context with a cluster`, { param: 'kubeconfig' });
  if (!cluster.server) throw new KvgateError(ErrorCode.InvalidConfig, `${source}: cluster "${cluster.name}" has no server`, { param: 'kubeconfig' });
  const user = kc.getCurrentUser();
  const exec = user?.exec as { command?: string } | undefined;
  return { kc, source, server: cluster.server, context, namespace: ctx.namespace, execCommand: exec?.command };
}

function fromFiles(files: string[], label: string): LoadedKubeConfig {
  const kc = new KubeConfig();
  try {
    loadKubeconfigFile(kc, files[0]);
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      loadKubeconfigFile(more, f);
      kc.mergeConfig(more, true);
    }
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${label}: invalid kubeconfig: ${(err as Error).message}`, { param: 'kubeconfig' });
  }
  const tokenFile = userTokenFile(files, kc.getCurrentUser()?.name);
  if (tokenFile) useTokenFile(kc, tokenFile);
  return finish(kc, `kubeconfig ${files.join(delimiter)}`);
}

/**
 * client-node's `loadFromFile`, with a relative `token-file` resolved against the kubeconfig's
 * folder, as kubectl (client-go's ResolvePaths) does for every path in a kubeconfig. client-node
 * already does so for `certificate-authority`, `client-certificate` and `client-key`, but reads
 * `token-file` at load relative to the working directory: kvgate started elsewhere failed with
 * ENOENT, or read another file of the same name. Files without a relative token-file load as before.
 */
function loadKubeconfigFile(kc: KubeConfig, file: string): void {
  const doc = parseKubeconfig(file);
  const users = (doc as { users?: unknown } | undefined)?.users;
  let rewritten = false;
  if (Array.isArray(users)) {
    for (const u of users as { user?: Record<string, unknown> }[]) {
      const tf = u?.user?.['token-file'];
      if (typeof tf === 'string' && tf && !isAbsolute(tf)) {
        u.user!['token-file'] = resolve(dirname(file), tf);
        rewritten = true;
      }
    }
  }
  if (!rewritten) return kc.loadFromFile(file);
  kc.loadFromString(JSON.stringify(doc));
  kc.makePathsAbsolute(dirname(file));
}

/** A kubeconfig file as YAML, or undefined when this parser cannot read it (client-node's may still). */
function parseKubeconfig(file: string): unknown {
  try {
    return parseYaml(readFileSync(file, 'utf8'), { merge: true });
  } catch {
    return undefined; // client-node reads it; a second parser's quirk must not break loading
  }
}

/**
 * The current user's `token-file` in the kubeconfig files (user names are unique across merged
 * files), when it has no inline `token`. client-node reads such a file once, at load, untrimmed;
 * kvgate reads it per request instead (token-file-auth.ts), as for the in-cluster token. A
 * relative path is resolved against the folder of the kubeconfig that names it, as kubectl does.
 */
function userTokenFile(files: string[], user: string | undefined): string | undefined {
  if (!user) return undefined;
  for (const f of files) {
    const doc = parseKubeconfig(f);
    const users = (doc as { users?: unknown } | null)?.users;
    if (!Array.isArray(users)) continue;
    const entry = (users as { name?: unknown; user?: { token?: unknown; 'token-file'?: unknown } }[]).find((u) => u?.name === user);
    if (!entry) continue;
    const file = entry.user?.['token-file'];
    return !entry.user?.token && typeof file === 'string' && file ? resolve(dirname(f), file) : undefined;
  }
  return undefined;
}

/**
 * Finds Kubernetes credentials the way controller-runtime (and so the GIE EPP) does:
 * `--kubeconfig`, then `$KUBECONFIG` (a path list, merged), then the in-cluster service account
 * (KUBERNETES_SERVICE_HOST/PORT plus the token and CA under SERVICE_ACCOUNT_DIR; the token read
 * per request, see token-file-auth.ts), then
 * `~/.kube/config`. Token, client-certificate and `exec`-plugin users all work, since requests
 * go through client-node. Returns undefined when there is nothing to load.
 * Throws KvgateError(InvalidConfig) naming the file when one exists but is unusable.
 */
export function findKubeConfig(o: KubeConfigOptions = {}): LoadedKubeConfig | undefined {
  const env = o.env ?? process.env;
  if (o.kubeconfig) {
    if (!readable(o.kubeconfig)) throw new KvgateError(ErrorCode.InvalidConfig, `--kubeconfig ${o.kubeconfig}: no such file`, { param: 'kubeconfig' });
    return fromFiles([o.kubeconfig], `--kubeconfig ${o.kubeconfig}`);
  }
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (listed.length > 0) {
    const present = listed.filter(readable);
    if (present.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, `$KUBECONFIG names no readable file (${listed.join(delimiter)})`, { param: 'kubeconfig' });
    return fromFiles(present, '$KUBECONFIG');
  }
  const root = env[IN_CLUSTER_ROOT_ENV] ?? '';
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && readable(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
    const kc = new KubeConfig();
    // client-node reads KUBERNETES_SERVICE_HOST/PORT from process.env only.
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
    process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
    try {
      kc.loadFromCluster(root);
    } finally {
      restoreEnv('KUBERNETES_SERVICE_HOST', saved.host);
      restoreEnv('KUBERNETES_SERVICE_PORT', saved.port);
    }
    // Not client-node's tokenFile provider: it caches the token for 60 s and does not trim it.
    useTokenFile(kc, `${root}${SERVICE_ACCOUNT_DIR}/token`);
    if (!readable(`${root}${SERVICE_ACCOUNT_DIR}/ca.crt`)) throw new KvgateError(ErrorCode.InvalidConfig, `in-cluster service account: ${root}${SERVICE_ACCOUNT_DIR}/ca.crt is missing`, { param: 'kubeconfig' });
    const loaded = finish(kc, 'in-cluster service account');
    if (loaded.namespace) loaded.namespace = loaded.namespace.trim();
    return loaded;
  }
  const home = env.HOME ?? homedir();
  const file = join(home, '.kube', 'config');
  if (home && readable(file)) return fromFiles([file], file);
  return undefined;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** findKubeConfig, or a KvgateError saying where credentials were looked for. */
export function loadKubeConfig(o: KubeConfigOptions = {}): LoadedKubeConfig {
  const found = findKubeConfig(o);
  if (found) return found;
  const env = o.env ?? process.env;
  const why = env.KUBERNETES_SERVICE_HOST ? `no service-account token at ${env[IN_CLUSTER_ROOT_ENV] ?? ''}${SERVICE_ACCOUNT_DIR}/token (is automountServiceAccountToken off?)` : 'not in a pod (KUBERNETES_SERVICE_HOST is unset)';
  throw new KvgateError(ErrorCode.InvalidConfig, `no Kubernetes credentials: ${why}, and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config)`, { param: 'kubeconfig' });
}

/** The permission a request needs: what a 403's hint names. `group` "" is the core group (pods). */
export interface RbacNeed {
  verb: string;
  /** Plural resource name, as RBAC rules spell it: "pods", "inferencepools". */
  resource: string;
  group: string;
  namespace: string;
}

/**
 * The RBAC rule a 403 is missing, and where kvgate's own Role comes from (`kvgate render`'s
 * epp-rbac.yaml grants exactly what discovery reads).
 */
export function rbacHint(n: RbacNeed): string {
  return `the service account needs "${n.verb}" on ${n.resource} (API group "${n.group}") in namespace ${n.namespace}: apply the Role \`kvgate render\` writes to epp-rbac.yaml (get, list, watch on pods, inferencepools and inferenceobjectives) and its RoleBinding`;
}

/**
 * A readable sentence for a failed Kubernetes API call from client-node: HTTP status with the
 * API server's Status message, a connection error, or an exec-plugin failure.
 * `what` names the request ("list pods in ns"); `rbac`, when given, is the permission it needs,
 * named with the Role to apply when the answer is 403.
 */
export function describeKubeError(err: unknown, what: string, cfg?: LoadedKubeConfig, rbac?: RbacNeed): string {
  const e = err as { code?: unknown; statusCode?: number; body?: unknown; message?: string; errno?: string; cause?: { code?: string } };
  const status = typeof e.code === 'number' ? e.code : e.statusCode;
  if (typeof status === 'number') {
    let msg = '';
    const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
    if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') msg = `: ${(body as { message: string }).message}`;
    if (status === 401) return `${what}: 401 Unauthorized${msg} (credentials from ${cfg?.source ?? 'the kubeconfig'} were rejected)`;
    if (status === 403) return `${what}: 403 Forbidden${msg}${rbac ? ` — ${rbacHint(rbac)}` : ''}`;
    return `${what}: HTTP ${status}${msg}`;
  }
  const code = typeof e.code === 'string' ? e.code : (e.errno ?? e.cause?.code);
  if (code === 'ENOENT' && cfg?.execCommand) return `${what}: the kubeconfig's exec credential plugin "${cfg.execCommand}" was not found (install it, e.g. gke-gcloud-auth-plugin)`;
  if (code === 'ECONNREFUSED') return `${what}: connection refused by ${cfg?.server ?? 'the API server'}`;
  if (code === 'ENOTFOUND') return `${what}: host of ${cfg?.server ?? 'the API server'} not found`;
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return `${what}: connection to ${cfg?.server ?? 'the API server'} timed out`;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `${what}: TLS verification of ${cfg?.server ?? 'the API server'} failed (${code}): check the cluster CA`;
  // client-node passes an exec plugin's failure on as a bare Error carrying the plugin's stderr.
  if (cfg?.execCommand && !code) return `${what}: exec credential plugin "${cfg.execCommand}" failed: ${(e.message ?? '').trim() || 'no output'}`;
  return `${what}: ${(e.message ?? String(err)).trim()}`;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
