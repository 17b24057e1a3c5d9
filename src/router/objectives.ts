import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { PRIORITY_MAX, PRIORITY_MIN, PRIORITY_RULE, parsePriority } from './priority.js';

/**
 * InferenceObjectives: names a request can carry in `x-gateway-inference-objective` (or llm-d's
 * `x-llm-d-inference-objective`) and the priority each stands for. As in the GIE, a request that
 * names no objective, or one that is not defined, has the default priority; priority < 0 makes a
 * request sheddable when the pool is saturated.
 */
export type Objectives = ReadonlyMap<string, number>;

export const OBJECTIVE_HEADERS = ['x-gateway-inference-objective', 'x-llm-d-inference-objective'] as const;

const ObjectiveManifest = z
  .object({
    apiVersion: z.enum(['inference.networking.x-k8s.io/v1alpha2', 'llm-d.ai/v1alpha1', 'llm-d.ai/v1alpha2']),
    kind: z.literal('InferenceObjective'),
    metadata: z.object({ name: z.string().min(1) }).passthrough(),
    spec: z.object({ priority: z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX).optional(), poolRef: z.unknown().optional() }).strict().default({}),
  })
  .passthrough();

/** `NAME=PRIORITY`, as given to `--objective`. */
export function parseObjectiveArg(arg: string): [string, number] {
  const m = /^([^=\s]+)=(.*)$/.exec(arg.trim());
  const priority = m ? parsePriority(m[2]) : undefined;
  if (!m || priority === undefined) throw new KvgateError(ErrorCode.InvalidConfig, `--objective must be NAME=PRIORITY with PRIORITY ${PRIORITY_RULE} (got "${arg}")`);
  return [m[1], priority];
}

/**
 * Reads InferenceObjective manifests (one or more YAML documents, as applied to Kubernetes).
 * Errors name the document and field.
 */
export function readObjectivesFile(file: string): Map<string, number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot read objectives file ${file}: ${(err as Error).message}`);
  }
  const out = new Map<string, number>();
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length) throw new KvgateError(ErrorCode.InvalidConfig, `${file}: document ${i + 1}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // empty document (a trailing ---)
    const r = ObjectiveManifest.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new KvgateError(ErrorCode.InvalidConfig, `${file}: document ${i + 1}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const name = r.data.metadata.name;
    if (out.has(name)) throw new KvgateError(ErrorCode.InvalidConfig, `${file}: document ${i + 1}: InferenceObjective "${name}" is defined twice`);
    out.set(name, r.data.spec.priority ?? 0);
  });
  return out;
}

/**
 * The objectives of `--objectives-file` and `--objective` (the flag wins on a name given in both).
 * Objectives need trusted routing headers: the objective header comes from clients.
 */
export function loadObjectives(opts: { file?: string; args?: string[]; trustRoutingHeaders?: boolean }): Map<string, number> {
  const out = opts.file ? readObjectivesFile(opts.file) : new Map<string, number>();
  for (const a of opts.args ?? []) {
    const [name, priority] = parseObjectiveArg(a);
    out.set(name, priority);
  }
  if (out.size > 0 && !opts.trustRoutingHeaders) {
    throw new KvgateError(ErrorCode.InvalidConfig, '--objective / --objectives-file need --trust-routing-headers: the objective header comes from clients');
  }
  return out;
}
