/**
 * The InferencePool fields endpoint discovery needs, from either API version:
 * - `inference.networking.k8s.io/v1`: `spec.selector.matchLabels` (1..64 labels, ANDed) and
 *   `spec.targetPorts: [{number}]` (1..8, each a separate endpoint per pod — data-parallel ranks);
 * - `inference.networking.x-k8s.io/v1alpha2`: `spec.selector` (a label map) and one
 *   `spec.targetPortNumber`.
 * (GIE api/v1/inferencepool_types.go and api/v1alpha2.)
 */
export interface PoolSpec {
  apiVersion: string;
  selector: Record<string, string>;
  targetPorts: number[];
}

export const POOL_GROUPS = {
  'inference.networking.k8s.io': 'v1',
  'inference.networking.x-k8s.io': 'v1alpha2',
} as const;
export type PoolGroup = keyof typeof POOL_GROUPS;

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

function labelMap(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0 || entries.some(([, x]) => typeof x !== 'string')) return undefined;
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * Reads an InferencePool object of `group`. Returns the spec, or a sentence naming the bad field
 * (the CRDs validate these, so this only fires on hand-made or future objects).
 */
export function parseInferencePool(group: PoolGroup, obj: unknown): PoolSpec | string {
  const spec = (obj as { spec?: Record<string, unknown> } | undefined)?.spec;
  const apiVersion = `${group}/${POOL_GROUPS[group]}`;
  if (!spec) return `${apiVersion}: spec is missing`;
  if (group === 'inference.networking.k8s.io') {
    const selector = labelMap((spec.selector as { matchLabels?: unknown } | undefined)?.matchLabels);
    if (!selector) return `${apiVersion}: spec.selector.matchLabels must be a non-empty map of strings`;
    const raw = spec.targetPorts;
    if (!Array.isArray(raw) || raw.length === 0) return `${apiVersion}: spec.targetPorts must list 1 to 8 ports`;
    const ports = raw.map((p) => (p as { number?: unknown } | null)?.number);
    const bad = ports.findIndex((p) => !isPort(p));
    if (bad >= 0) return `${apiVersion}: spec.targetPorts[${bad}].number must be a port number (1-65535)`;
    return { apiVersion, selector, targetPorts: [...new Set(ports as number[])] };
  }
  const selector = labelMap(spec.selector);
  if (!selector) return `${apiVersion}: spec.selector must be a non-empty map of strings`;
  if (!isPort(spec.targetPortNumber)) return `${apiVersion}: spec.targetPortNumber must be a port number (1-65535)`;
  return { apiVersion, selector, targetPorts: [spec.targetPortNumber] };
}

/** The label selector string of a match-labels map ("k=v,k2=v2", keys sorted). */
export function labelSelector(selector: Record<string, string>): string {
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}
