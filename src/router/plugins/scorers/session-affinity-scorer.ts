import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z.object({ evictionTtlSeconds: z.number().positive().default(300), maxSessions: z.number().int().positive().default(100_000) }).strict();

/**
 * 1.0 for the endpoint that served this request's session (x-session-id) last, 0 elsewhere.
 * Sessions idle longer than the TTL are forgotten.
 */
export const sessionAffinityScorer: PluginDefinition<typeof Params> = {
  type: 'session-affinity-scorer',
  kind: 'scorer',
  parameters: Params,
  create: (p) => {
    const sessions = new Map<string, { endpointId: string; atMs: number }>();
    return {
      kind: 'scorer',
      score: (ctx, eps) => {
        const sid = ctx.request.sessionId;
        const s = sid ? sessions.get(sid) : undefined;
        const live = s && ctx.nowMs - s.atMs <= p.evictionTtlSeconds * 1000 ? s.endpointId : undefined;
        return eps.map((e) => (live !== undefined && e.info.id === live ? 1 : 0));
      },
      onPicked: (ctx, ep) => {
        const sid = ctx.request.sessionId;
        if (!sid) return;
        sessions.delete(sid); // re-insert: Map order is our LRU order
        sessions.set(sid, { endpointId: ep.info.id, atMs: ctx.nowMs });
        if (sessions.size > p.maxSessions) sessions.delete(sessions.keys().next().value!);
      },
    };
  },
};
