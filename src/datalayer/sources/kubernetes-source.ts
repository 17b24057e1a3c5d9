import type { EndpointInfo } from '../../router/api.js';
import type { Logger } from '../../shared/logger.js';
import { KubeClient } from './kube-client.js';
import type { EndpointSource } from './endpoint-source.js';

interface Pool {
  selector: Record<string, string>;
  ports: number[];
  apiVersion: string;
}

interface Pod {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string; resourceVersion?: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

export interface KubernetesSourceOptions {
  poolName: string;
  namespace: string;
  kubeconfig?: string;
  client?: KubeClient;
  logger: Logger;
  /** First retry delay after an error; doubles up to 30 s. */
  backoffMs?: number;
}

/**
 * Endpoints of an InferencePool: reads the pool (inference.networking.k8s.io/v1, falling back to
 * inference.networking.x-k8s.io/v1alpha2), lists its Pods, then watches them from the list's
 * resourceVersion. Only Ready pods with an IP count, one endpoint per target port. A dropped watch
 * resumes from the last resourceVersion; 410 Gone relists; errors retry with backoff and leave
 * the source not synced with a readable `lastError`.
 */
export class KubernetesEndpointSource implements EndpointSource {
  get description(): string {
    return `InferencePool ${this.o.namespace}/${this.o.poolName}`;
  }
  synced = false;
  lastError?: string;
  private readonly pods = new Map<string, Pod>();
  private pool?: Pool;
  private rv = '';
  private readonly abort = new AbortController();
  private client?: KubeClient;
  private stopped = false;

  constructor(private readonly o: KubernetesSourceOptions) {}

  start(onChange: (endpoints: EndpointInfo[]) => void): void {
    this.client = this.o.client ?? KubeClient.fromKubeconfig(this.o.kubeconfig);
    if (!this.client) {
      this.lastError = 'no kubeconfig found (and not running in a cluster): give --kubeconfig';
      this.o.logger.error({ err: this.lastError }, 'kubernetes discovery');
      return;
    }
    void this.loop(onChange);
  }

  private endpoints(): EndpointInfo[] {
    const out: EndpointInfo[] = [];
    for (const p of this.pods.values()) {
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      const ip = p.status?.podIP;
      if (!ready || !ip || p.metadata?.deletionTimestamp) continue;
      for (const port of this.pool!.ports) out.push({ id: `${ip}:${port}`, host: ip, port, url: `http://${ip}:${port}`, labels: { ...(p.metadata?.labels ?? {}), 'kvgate.io/pod': p.metadata?.name ?? '' } });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  private async readPool(): Promise<Pool> {
    const ns = this.o.namespace;
    const v1 = await this.client!.get(`/apis/inference.networking.k8s.io/v1/namespaces/${ns}/inferencepools/${this.o.poolName}`);
    if (v1.status === 200) {
      const spec = (v1.body as { spec?: { selector?: { matchLabels?: Record<string, string> }; targetPorts?: { number?: number }[] } }).spec;
      const selector = spec?.selector?.matchLabels ?? {};
      const ports = (spec?.targetPorts ?? []).map((p) => p.number).filter((n): n is number => typeof n === 'number');
      if (Object.keys(selector).length === 0 || ports.length === 0) throw new Error(`InferencePool ${ns}/${this.o.poolName} is invalid: it needs spec.selector.matchLabels and spec.targetPorts`);
      return { selector, ports, apiVersion: 'inference.networking.k8s.io/v1' };
    }
    if (v1.status === 403) throw new Error(`forbidden to read InferencePool ${ns}/${this.o.poolName}: grant get/list/watch on inferencepools to the EPP's service account`);
    const a2 = await this.client!.get(`/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/${ns}/inferencepools/${this.o.poolName}`);
    if (a2.status === 200) {
      const spec = (a2.body as { spec?: { selector?: Record<string, string>; targetPortNumber?: number } }).spec;
      if (!spec?.selector || !spec.targetPortNumber) throw new Error(`InferencePool ${ns}/${this.o.poolName} (v1alpha2) is invalid: it needs spec.selector and spec.targetPortNumber`);
      return { selector: spec.selector, ports: [spec.targetPortNumber], apiVersion: 'inference.networking.x-k8s.io/v1alpha2' };
    }
    if (a2.status === 403) throw new Error(`forbidden to read InferencePool ${ns}/${this.o.poolName}: grant get/list/watch on inferencepools`);
    throw new Error(`InferencePool ${ns}/${this.o.poolName} not found (v1 ${v1.status}, v1alpha2 ${a2.status})`);
  }

  private selectorQuery(): string {
    return encodeURIComponent(Object.entries(this.pool!.selector).map(([k, v]) => `${k}=${v}`).join(','));
  }

  private async relist(): Promise<void> {
    this.pool = await this.readPool();
    const r = await this.client!.get(`/api/v1/namespaces/${this.o.namespace}/pods?labelSelector=${this.selectorQuery()}`);
    if (r.status === 403) throw new Error(`forbidden to list pods in ${this.o.namespace}: grant get/list/watch on pods`);
    if (r.status !== 200) throw new Error(`listing pods answered ${r.status}`);
    const list = r.body as { metadata?: { resourceVersion?: string }; items?: Pod[] };
    this.pods.clear();
    for (const p of list.items ?? []) if (p.metadata?.name) this.pods.set(p.metadata.name, p);
    this.rv = list.metadata?.resourceVersion ?? '';
  }

  private async loop(onChange: (endpoints: EndpointInfo[]) => void): Promise<void> {
    let backoff = this.o.backoffMs ?? 500;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
          this.synced = true;
          this.lastError = undefined;
          onChange(this.endpoints());
        }
        let gone = false;
        const status = await this.client!.watch(
          `/api/v1/namespaces/${this.o.namespace}/pods?labelSelector=${this.selectorQuery()}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.rv)}`,
          (e) => {
            const pod = e.object as Pod & { code?: number };
            if (e.type === 'ERROR') {
              if (pod.code === 410) gone = true;
              return;
            }
            if (pod.metadata?.resourceVersion) this.rv = pod.metadata.resourceVersion;
            if (e.type === 'BOOKMARK' || !pod.metadata?.name) return;
            if (e.type === 'DELETED') this.pods.delete(pod.metadata.name);
            else this.pods.set(pod.metadata.name, pod);
            onChange(this.endpoints());
          },
          this.abort.signal,
        );
        if (status === 410 || gone) needList = true;
        else if (status !== 200) throw new Error(`watching pods answered ${status}`);
        backoff = this.o.backoffMs ?? 500;
      } catch (err) {
        if (this.stopped) return;
        this.lastError = (err as Error).message;
        if (needList) this.synced = false;
        this.o.logger.warn({ err: this.lastError, retryMs: backoff }, 'kubernetes discovery error; retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(30_000, backoff * 2);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (!this.o.client) await this.client?.close();
  }
}
