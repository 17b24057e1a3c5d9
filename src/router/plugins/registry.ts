import type { PluginDefinition } from './types.js';
import { labelSelectorFilter } from './filters/label-selector-filter.js';
import { byLabelFilter } from './filters/by-label-filter.js';
import { decodeFilter, prefillFilter, encodeFilter } from './filters/role-filters.js';
import { utilizationFilter } from './filters/utilization-filter.js';
import { prefixCacheScorer } from './scorers/prefix-cache-scorer.js';
import { queueScorer } from './scorers/queue-scorer.js';
import { kvCacheUtilizationScorer } from './scorers/kv-cache-utilization-scorer.js';
import { runningRequestsSizeScorer } from './scorers/running-requests-size-scorer.js';
import { loadAwareScorer } from './scorers/load-aware-scorer.js';
import { activeRequestScorer } from './scorers/active-request-scorer.js';
import { tokenLoadScorer } from './scorers/token-load-scorer.js';
import { sessionAffinityScorer } from './scorers/session-affinity-scorer.js';
import { loraAffinityScorer } from './scorers/lora-affinity-scorer.js';
import { noHitLruScorer } from './scorers/no-hit-lru-scorer.js';
import { predictedTtftScorer } from './scorers/predicted-ttft-scorer.js';
import { maxScorePicker } from './pickers/max-score-picker.js';
import { randomPicker } from './pickers/random-picker.js';
import { weightedRandomPicker } from './pickers/weighted-random-picker.js';
import { roundRobinPicker } from './pickers/round-robin-picker.js';
import { sglangCacheAwarePicker } from './pickers/sglang-cache-aware-picker.js';
import { utilizationDetector } from './saturation/utilization-detector.js';
import { singleProfileHandler } from './single-profile-handler.js';
import { dataPlugins } from './data-plugins.js';
import { approxPrefixCacheProducer } from './producers/approx-prefix-cache-producer.js';
import { precisePrefixCacheProducer } from './producers/precise-prefix-cache-producer.js';
import { precisePrefixCacheScorer } from './scorers/precise-prefix-cache-scorer.js';

const ALL: PluginDefinition[] = [
  labelSelectorFilter,
  byLabelFilter,
  decodeFilter,
  prefillFilter,
  encodeFilter,
  utilizationFilter,
  prefixCacheScorer,
  queueScorer,
  kvCacheUtilizationScorer,
  runningRequestsSizeScorer,
  loadAwareScorer,
  activeRequestScorer,
  tokenLoadScorer,
  sessionAffinityScorer,
  loraAffinityScorer,
  noHitLruScorer,
  predictedTtftScorer,
  maxScorePicker,
  randomPicker,
  weightedRandomPicker,
  roundRobinPicker,
  sglangCacheAwarePicker,
  utilizationDetector,
  singleProfileHandler,
  approxPrefixCacheProducer,
  precisePrefixCacheProducer,
  precisePrefixCacheScorer,
  ...dataPlugins,
] as PluginDefinition[];

const byType = new Map<string, PluginDefinition>();
for (const d of ALL) {
  byType.set(d.type, d);
  for (const a of [...(d.aliases ?? []), ...Object.keys(d.renamedFrom ?? {})]) byType.set(a, d);
}

/** The plugin definition registered under a type name, alias or former name. */
export function pluginDefinition(type: string): PluginDefinition | undefined {
  return byType.get(type);
}

/**
 * Plugin types GIE released and later removed without a successor of the same kind, each with
 * what to use instead (said in the "unknown plugin type" error). GIE v0.5.x's legacy filters
 * went in v1.0.0 (gateway-api-inference-extension #1305).
 */
const REMOVED: Record<string, string> = {
  'low-queue-filter': 'GIE v0.5\'s legacy filter, removed in GIE v1.0.0; use utilization-filter with conditions: [{metric: waiting-queue, maxValue: N}], or queue-scorer to prefer short queues',
  'least-queue-filter': 'GIE v0.5\'s legacy filter, removed in GIE v1.0.0; use queue-scorer',
  'least-kv-cache-filter': 'GIE v0.5\'s legacy filter, removed in GIE v1.0.0; use kv-cache-utilization-scorer',
  'lora-affinity-filter': 'GIE v0.5\'s legacy filter, replaced in GIE v1.0.0 by lora-affinity-scorer (a scorer: give it a weight in the profile)',
  'decision-tree-filter': 'GIE v0.5\'s legacy filter, removed in GIE v1.0.0; list the filters in the profile instead',
};

/** What to use instead of a plugin type GIE removed, if `type` is one. */
export function removedPluginType(type: string): string | undefined {
  return Object.hasOwn(REMOVED, type) ? REMOVED[type] : undefined;
}

/** Every type name and alias (former names left out: they load, with a warning, but are not offered). */
export function pluginTypes(): string[] {
  return [...byType.keys()].filter((t) => !Object.hasOwn(byType.get(t)!.renamedFrom ?? {}, t)).sort();
}

export function pluginsOfKind(kind: PluginDefinition['kind']): PluginDefinition[] {
  return ALL.filter((d) => d.kind === kind);
}
