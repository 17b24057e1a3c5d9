import { createEngine, loadProfile, VirtualClock, type EngineOptions } from '../../src/engine/index.js';
import type { EngineRequest, KvEvent, RequestOutcome } from '../../src/engine/types.js';

export function virtualEngine(opts: Partial<EngineOptions> & { profileName?: string } = {}) {
  const clock = new VirtualClock();
  const engine = createEngine({ profile: loadProfile(opts.profileName ?? 'instant'), clock, seed: 1, ...opts });
  const events: KvEvent[] = [];
  engine.onKvEvents((b) => events.push(...b.events));
  let n = 0;
  /** Submits and returns a promise-free handle filled in as the clock runs. */
  function submit(promptTokenIds: number[], maxTokens = 1, extra: Partial<EngineRequest> = {}) {
    const result: { outcome?: RequestOutcome; tokens: number[]; tokenTimes: number[] } = { tokens: [], tokenTimes: [] };
    engine.submit(
      { id: `r${n++}`, promptTokenIds, maxTokens, ignoreEos: true, ...extra },
      {
        onToken: (id, _i, now) => {
          result.tokens.push(id);
          result.tokenTimes.push(now);
        },
        onFinish: (o) => (result.outcome = o),
      },
    );
    return result;
  }
  return { clock, engine, events, submit };
}

/** Token ids 1000+start .. distinct per call site. */
export function seqTokens(n: number, start = 0): number[] {
  return Array.from({ length: n }, (_, i) => 1000 + start + i);
}
