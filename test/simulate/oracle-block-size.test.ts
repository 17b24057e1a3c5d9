import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate, resolvePolicies, DEFAULT_PATH, type SimulateOptions } from '../../src/simulate/simulate.js';
import type { ReplicaGroup } from '../../src/simulate/fleet.js';

/** A shared-prefix workload whose shared prefix does not end on a 128-token block boundary. */
function opts(fleet: ReplicaGroup[]): SimulateOptions {
  return {
    fleet,
    policies: resolvePolicies(['round-robin']),
    workload: { workload: 'shared-prefix', seed: 5, numGroups: 2, promptsPerGroup: 6, systemPromptLen: 700, questionLen: 50, outputLen: 4 },
    load: { kind: 'closed', concurrency: 2 },
    seed: 5,
    path: DEFAULT_PATH,
  };
}

test('the oracle hit rate of a mixed fleet is counted at its smallest block size, whatever the group order', async () => {
  const oracle = async (fleet: ReplicaGroup[]) => (await simulate(opts(fleet))).policies[0].summary.oracle_hit_pct!;
  const small = await oracle([{ count: 2, profile: 'instant', blockSize: 16 }]);
  const large = await oracle([{ count: 2, profile: 'instant', blockSize: 128 }]);
  assert.ok(small > large, `16-token blocks hit more of a shared prefix than 128-token ones (${small} vs ${large})`);
  // The oracle is an upper bound: in a mixed fleet, the finest granularity any replica caches at.
  assert.equal(await oracle([{ count: 1, profile: 'instant', blockSize: 128 }, { count: 1, profile: 'instant', blockSize: 16 }]), small);
  assert.equal(await oracle([{ count: 1, profile: 'instant', blockSize: 16 }, { count: 1, profile: 'instant', blockSize: 128 }]), small);
});
