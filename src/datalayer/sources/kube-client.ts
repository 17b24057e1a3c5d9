import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Agent, request } from 'undici';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

interface KubeConfig {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
  users?: { name: string; user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
}

/** A minimal read-only Kubernetes API client from a kubeconfig (GET only; what preflight needs). */
export class KubeClient {
  private constructor(
    readonly server: string,
    readonly context: string,
    readonly namespace: string | undefined,
    private readonly agent: Agent,
    private readonly token?: string,
  ) {}

  /** Loads --kubeconfig, $KUBECONFIG or ~/.kube/config; undefined when none exists. */
  static fromKubeconfig(path?: string): KubeClient | undefined {
    const file = path ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
    if (!existsSync(file)) {
      if (path) throw new KvgateError(ErrorCode.InvalidConfig, `--kubeconfig ${path}: no such file`);
      return undefined;
    }
    let kc: KubeConfig;
    try {
      kc = parseYaml(readFileSync(file, 'utf8')) as KubeConfig;
    } catch (err) {
      throw new KvgateError(ErrorCode.InvalidConfig, `${file}: invalid kubeconfig: ${(err as Error).message}`);
    }
    const ctxName = kc['current-context'];
    const ctx = kc.contexts?.find((c) => c.name === ctxName)?.context;
    const cluster = kc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
    const user = kc.users?.find((u) => u.name === ctx?.user)?.user ?? {};
    if (!ctx || !cluster) throw new KvgateError(ErrorCode.InvalidConfig, `${file}: current-context "${ctxName ?? ''}" has no cluster`);
    const b64 = (s?: string) => (s ? Buffer.from(s, 'base64') : undefined);
    const agent = new Agent({
      connect: {
        ca: b64(cluster['certificate-authority-data']) ?? (cluster['certificate-authority'] ? readFileSync(cluster['certificate-authority']) : undefined),
        cert: b64(user['client-certificate-data']),
        key: b64(user['client-key-data']),
        rejectUnauthorized: !cluster['insecure-skip-tls-verify'],
      },
    });
    return new KubeClient(cluster.server.replace(/\/+$/, ''), ctxName!, ctx.namespace, agent, user.token);
  }

  async get(path: string, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
    const r = await request(`${this.server}${path}`, {
      dispatcher: this.agent,
      headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await r.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* keep text */
    }
    return { status: r.statusCode, body };
  }

  /**
   * Streams a watch: calls onEvent for each newline-delimited JSON event until the server ends
   * the response (resolve) or the connection fails (reject). `signal` cancels it.
   */
  async watch(path: string, onEvent: (e: { type: string; object: Record<string, unknown> }) => void, signal: AbortSignal): Promise<number> {
    const r = await request(`${this.server}${path}`, {
      dispatcher: this.agent,
      headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      headersTimeout: 10_000,
      bodyTimeout: 0,
      signal,
    });
    if (r.statusCode !== 200) {
      await r.body.dump();
      return r.statusCode;
    }
    let buf = '';
    for await (const chunk of r.body) {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) onEvent(JSON.parse(line));
      }
    }
    return 200;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
