import { formatHostPort, hostUrl } from '../../shared/host-port.js';
import type { EndpointInfo } from '../../router/api.js';

/**
 * Labels kvgate adds to every endpoint discovered from a Pod, next to the Pod's own labels
 * (which role and label-selector filters match on).
 */
export const POD_ENDPOINT_LABELS = {
  podName: 'kvgate.io/pod-name',
  podNamespace: 'kvgate.io/pod-namespace',
  /** Index of the InferencePool target port this endpoint is (GIE names endpoints `<pod>-rank-<idx>`). */
  rank: 'kvgate.io/rank',
  /** Copied from the Pod annotation of the same name when it holds a valid port. */
  kvEventsPort: 'kvgate.io/kv-events-port',
} as const;

/**
 * Pod annotation naming the port on which the model server publishes KV-cache events (vLLM's
 * `--kv-events-config` ZMQ endpoint, e.g. 5557). Consumers connect to `tcp://<podIP>:<port>`.
 */
export const KV_EVENTS_PORT_ANNOTATION = 'kvgate.io/kv-events-port';

/** The Pod fields discovery reads; both client-node's typed V1Pod and raw watch JSON fit. */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
  status?: { podIP?: string; conditions?: { type?: string; status?: string }[] };
}

/**
 * Whether a Pod serves traffic, as the GIE pod reconciler decides: condition Ready is "True",
 * it has an IP, and it is not being deleted (a terminating Pod drains, it takes no new requests).
 */
export function podServes(p: PodLike): boolean {
  if (p.metadata?.deletionTimestamp) return false;
  if (!p.status?.podIP) return false;
  return p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function validPort(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? String(n) : undefined;
}

/**
 * One endpoint per serving Pod × target port, id `podIP:port` (`[ip]:port` for IPv6) as the
 * endpoint-picker protocol names destinations; sorted by id so equal sets compare equal.
 */
export function podEndpoints(pods: Iterable<PodLike>, targetPorts: readonly number[]): EndpointInfo[] {
  const out: EndpointInfo[] = [];
  for (const p of pods) {
    if (!podServes(p)) continue;
    const ip = p.status!.podIP!;
    const labels: Record<string, string> = { ...(p.metadata?.labels ?? {}) };
    labels[POD_ENDPOINT_LABELS.podName] = p.metadata?.name ?? '';
    labels[POD_ENDPOINT_LABELS.podNamespace] = p.metadata?.namespace ?? '';
    const kvPort = validPort(p.metadata?.annotations?.[KV_EVENTS_PORT_ANNOTATION]);
    if (kvPort) labels[POD_ENDPOINT_LABELS.kvEventsPort] = kvPort;
    targetPorts.forEach((port, rank) => {
      out.push({ id: formatHostPort(ip, port), host: ip, port, url: hostUrl('http', ip, port), labels: { ...labels, [POD_ENDPOINT_LABELS.rank]: String(rank) } });
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
