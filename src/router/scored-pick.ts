import type { EndpointInfo, EndpointScore, EndpointState, PickResult } from './api.js';
import type { CycleContext } from './plugins/types.js';

/**
 * The PickResult of one scheduling cycle. Its per-candidate `scores` are built only when read
 * (--debug-scores, the dashboard's recent requests, tests): a hundred small objects per pick
 * otherwise.
 *
 * A class, not an object literal with a getter: V8 gives such a literal dictionary-mode
 * properties (a hash table allocated per pick, and a lookup at every read of `endpoints` or
 * `prefixMatch` on the request path), where a class instance keeps fast properties.
 * It must not hold the cycle context: the dashboard's ring of recent picks keeps it, and with it
 * the request (its prompt text and token ids) would stay alive for the last 64 requests.
 */
export class ScoredPick implements PickResult {
  constructor(
    readonly requestId: string,
    readonly endpoints: EndpointInfo[],
    readonly profile: string,
    readonly prefixMatch: PickResult['prefixMatch'],
    private readonly candidates: EndpointState[],
    private readonly totals: number[],
    /** Per scorer (in `scorerNames` order), each candidate's clamped score. */
    private readonly clamped: number[][],
    private readonly scorerNames: string[],
    private readonly prefix: CycleContext['prefix'],
    readonly picked: number = 1,
  ) {}

  get scores(): EndpointScore[] {
    const pm = this.prefix;
    return this.candidates.map((e, i) => ({
      endpointId: e.info.id,
      total: this.totals[i],
      byPlugin: Object.fromEntries(this.scorerNames.map((name, k) => [name, this.clamped[k][i]])),
      prefix: pm ? { matchedBlocks: pm.matched.get(e.info.id) ?? 0, source: pm.source?.get(e.info.id) ?? 'approx' } : undefined,
    }));
  }
}
