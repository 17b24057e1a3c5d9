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
  for (const a of d.aliases ?? []) byType.set(a, d);
}

/** The plugin definition registered under a type name or alias. */
export function pluginDefinition(type: string): PluginDefinition | undefined {
  return byType.get(type);
}

export function pluginTypes(): string[] {
  return [...byType.keys()].sort();
}

export function pluginsOfKind(kind: PluginDefinition['kind']): PluginDefinition[] {
  return ALL.filter((d) => d.kind === kind);
}
