import { createRouter, loadConfig, type EndpointPicker } from '../../src/router/index.js';
import type { EndpointMetrics, RouteRequest } from '../../src/router/api.js';

/** Deterministic random source for tie-breaks. */
import { createRng } from '../../src/shared/rng.js';

export const seeded = (seed = 1): (() => number) => createRng(seed);

export interface PodSpec {
  queue?: number;
  kv?: number;
  running?: number;
  loras?: string[];
  waitingLoras?: string[];
  maxLoras?: number;
  labels?: Record<string, string>;
  metrics?: boolean;
  ageMs?: number;
}

/** A router over pods 192.168.1.{1..n}:8000 with the given metrics (as the EPP's hermetic tests). */
export function routerWith(pods: PodSpec[], config = loadConfig(), now = 10_000, seed = 1): EndpointPicker {
  const r = createRouter({ config, random: seeded(seed) });
  pods.forEach((p, i) => {
    const id = `192.168.1.${i + 1}:8000`;
    r.datastore.upsertEndpoint({ id, host: `192.168.1.${i + 1}`, port: 8000, url: `http://${id}`, labels: p.labels ?? {} });
    if (p.metrics === false) return;
    const m: EndpointMetrics = {
      waitingQueueSize: p.queue ?? 0,
      runningRequests: p.running ?? 0,
      kvCacheUsage: p.kv ?? 0,
      activeLoras: p.loras ?? [],
      waitingLoras: p.waitingLoras ?? [],
      maxLoras: p.maxLoras ?? 4,
      updatedAtMs: now - (p.ageMs ?? 0),
    };
    r.datastore.updateMetrics(id, m);
  });
  return r;
}

let n = 0;
export function req(over: Partial<RouteRequest> = {}): RouteRequest {
  return { id: `req-${n++}`, model: 'my-model', api: 'completions', prefixText: 'hello world', promptTokens: 3, stream: false, priority: 0, ...over };
}
