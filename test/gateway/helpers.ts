import { startSimFleet, type RunningSimFleet } from '../../src/sim/fleet.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import type { SimOptionsInput } from '../../src/sim/options.js';

export const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

/** N in-process simulated replicas behind an in-process gateway, all on ephemeral ports. */
export async function fleetWithGateway(
  n = 3,
  gw: Partial<GatewayOptions> = {},
  sim: Omit<SimOptionsInput, 'port'> = { profile: 'instant' },
): Promise<{ fleet: RunningSimFleet; gateway: RunningGateway; close(): Promise<void> }> {
  const fleet = await startSimFleet({ replicas: n, basePort: 0, ...sim });
  const gateway = await startGateway({
    port: 0,
    config: loadConfig({ preset: 'kvgate' }),
    endpoints: fleet.replicas.map((r) => parseEndpoint(r.url)),
    healthIntervalMs: 200,
    ...gw,
  });
  const headers: Record<string, string> = gw.apiKeys?.length ? { authorization: `Bearer ${gw.apiKeys[0]}` } : {};
  await waitFor(async () => {
    const j = (await (await fetch(`${gateway.url}/v1/models`, { headers })).json()) as { data?: unknown[] };
    return (j.data?.length ?? 0) > 0;
  });
  return {
    fleet,
    gateway,
    async close() {
      await gateway.close();
      await fleet.close();
    },
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 30_000, step = 25): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, step));
  }
}

// The return type is written out: inferred, it names undici-types by path, which tsc rejects (TS2742) in a
// worktree whose node_modules is a symlink.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  // Tests read arbitrary fields of OpenAI responses and errors.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* SSE or empty */
  }
  return { status: r.status, headers: r.headers, text, json };
}
