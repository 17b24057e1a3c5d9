/** The fairness-id request headers, GIE's and llm-d's names (honoured only with --trust-routing-headers). */
export const FAIRNESS_HEADERS = ['x-gateway-inference-fairness-id', 'x-llm-d-inference-fairness-id'] as const;

/** Longest flow id kept from a header: ids are map keys, so a client cannot make them large. */
const MAX_ID = 256;

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

/**
 * The fairness flow a request belongs to: the fairness-id header when routing headers are
 * trusted (GIE's `x-gateway-inference-fairness-id`, llm-d's `x-llm-d-inference-fairness-id`),
 * else the client's API key (its Authorization header), else the model. Flows of one priority
 * band take turns in the gateway queue. The id is a map key only: never logged or exported.
 */
export function flowIdOf(headers: Record<string, string | string[] | undefined>, model: string, trustRoutingHeaders: boolean): string {
  if (trustRoutingHeaders) {
    const id = first(headers[FAIRNESS_HEADERS[0]]) ?? first(headers[FAIRNESS_HEADERS[1]]);
    if (id !== undefined) return `f:${id.slice(0, MAX_ID)}`;
  }
  const auth = first(headers.authorization);
  if (auth !== undefined) return `k:${auth.slice(0, MAX_ID)}`;
  return `m:${model}`;
}
