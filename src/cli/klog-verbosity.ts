import { Option } from 'commander';
import { intArg } from './parse.js';
import type { LOG_LEVELS } from '../shared/logger.js';

/**
 * klog's `-v` (Kubernetes components' log verbosity, an integer ≥ 0), as the GIE EPP and
 * llm-d-inference-sim take it, mapped onto kvgate's pino levels. GIE logs its routine lines at
 * V(2) (pkg/epp/util/logging DEFAULT, its `-v` default), V(3) VERBOSE, V(4) DEBUG, V(5) TRACE,
 * and hides a line above `-v` (cmd/epp/runner: zap level = −v). kvgate's levels are coarser
 * (warn, info, debug, trace), so: 0–1 warn (GIE's routine lines hidden), 2–3 info, 4 debug,
 * 5 and above trace.
 */
export const KLOG_MAPPING_HELP = '0–1 warn, 2–3 info, 4 debug, ≥5 trace';

export function logLevelOfVerbosity(v: number): (typeof LOG_LEVELS)[number] {
  return v >= 5 ? 'trace' : v >= 4 ? 'debug' : v >= 2 ? 'info' : 'warn';
}

/**
 * Parses a `-v` value: an integer ≥ 0. Go's flag package also takes `-v=3`, which commander
 * hands over as "=3" (a short flag's value is the rest of its word), so one leading `=` is dropped.
 */
export function verbosityArg(name: string) {
  const parse = intArg(name, 0);
  return (v: string): number => parse(v.startsWith('=') ? v.slice(1) : v);
}

/** `-v, --v <level>` (both spellings, as Go's flag package reads either). */
export function verbosityOption(help: string): Option {
  return new Option('-v, --v <level>', help).argParser(verbosityArg('-v'));
}
