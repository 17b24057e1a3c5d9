import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { bothIngresses } from './both-ingresses.js';
import { capturingLogger, type LogLine } from './log-capture.js';
import { waitFor } from '../gateway/helpers.js';

/** Context windows (tokens, vLLM's --max-model-len) of the small replicas and of the large one. */
export const SMALL_WINDOW = 4096;
export const LARGE_WINDOW = 32768;

/** What the large replica reports (fake metrics): requests waiting and running, under the saturation gate's 5 waiting. */
const BUSY = { 'waiting-requests': 3, 'running-requests': 8 };

/**
 * Three real `kvgate sim` replicas of `model` on loopback — small, large, small windows — behind
 * the gateway and the EPP (both-ingresses.ts), resolved once both routers have the large one's
 * queue. The large replica reports a waiting queue, so the idle small replicas score better and a
 * router blind to the windows picks a small one first: a test that a long request goes to the large
 * window then fails when the context-fit filter (src/router/requestcontrol/context-fit.ts) is gone,
 * instead of passing on a tie-break. `gatewayLog` holds the gateway's warn lines (its failovers).
 */
export async function mixedWindowFleet(model: string) {
  const sims: RunningSim[] = await Promise.all(
    [SMALL_WINDOW, LARGE_WINDOW, SMALL_WINDOW].map((maxModelLen, seed) => startSimServer({ port: 0, profile: 'instant', model, maxModelLen, seed, ...(maxModelLen === LARGE_WINDOW ? { fakeMetrics: BUSY } : {}) })),
  );
  const cap = capturingLogger('warn');
  let env: Awaited<ReturnType<typeof bothIngresses>> | undefined;
  const close = async () => {
    await env?.close();
    await Promise.all(sims.map((s) => s.close()));
  };
  try {
    env = await bothIngresses(sims, { logger: cap.logger });
    const large = new URL(sims[1].url).host;
    await waitFor(() => [env!.gw.router, env!.epp.router].every((r) => r.datastore.get(large)?.metrics?.waitingQueueSize === BUSY['waiting-requests']));
    const gatewayLog: LogLine[] = cap.lines;
    return { sims, env, large, smalls: [sims[0], sims[2]].map((s) => new URL(s.url).host), gatewayLog, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The endpoints whose 400 the gateway failed over from, in order, among `log`'s lines. */
export const refusalsIn = (log: LogLine[]): string[] => log.filter((l) => l.msg === 'upstream attempt failed; trying the next endpoint' && l.status === 400).map((l) => l.endpoint as string);
