import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { pluginDefinition, pluginTypes, removedPluginType } from '../plugins/registry.js';
import { parseDurationMs } from '../plugins/metrics-view.js';
import { upstreamKeyProblem } from '../../shared/upstream-api-key.js';

const PRESET_DIR = fileURLToPath(new URL('../../../presets/', import.meta.url));
export const API_VERSIONS = ['llm-d.ai/v1alpha1', 'inference.networking.x-k8s.io/v1alpha1'] as const;
const FEATURE_GATES = ['flowControl', 'dataLayer', 'enableLegacyMetrics', 'haPopulateNonLeaderDatastore'];
/**
 * The saturation detector's thresholds as GIE v1.2.0–v1.4.x took them, directly under
 * `saturationDetector` (GIE v1.5.0 made the detector a plugin named by `pluginRef`).
 */
const LEGACY_SATURATION_KEYS = ['queueDepthThreshold', 'kvCacheUtilThreshold', 'metricsStalenessThreshold'] as const;

const FileSchema = z
  .object({
    apiVersion: z.enum(API_VERSIONS),
    kind: z.literal('EndpointPickerConfig'),
    featureGates: z.array(z.string()).optional(),
    plugins: z.array(z.object({ name: z.string().min(1).optional(), type: z.string().min(1), parameters: z.unknown().optional() }).strict()).optional(),
    schedulingProfiles: z
      .array(
        z
          .object({
            name: z.string().min(1),
            plugins: z.array(z.object({ pluginRef: z.string().min(1), weight: z.number().min(0).optional() }).strict()),
          })
          .strict(),
      )
      .optional(),
    saturationDetector: z
      .object({
        // Optional since GIE v1.5.0 (omitted → utilization-detector).
        pluginRef: z.string().min(1).optional(),
        // GIE v1.2–v1.4's thresholds; checked as the utilization detector's parameters.
        queueDepthThreshold: z.unknown().optional(),
        kvCacheUtilThreshold: z.unknown().optional(),
        metricsStalenessThreshold: z.unknown().optional(),
      })
      .strict()
      .optional(),
    // Accepted for compatibility with EPP configs; kvgate's data layer and parsing are built in.
    dataLayer: z.unknown().optional(),
    data: z.unknown().optional(),
    parser: z.unknown().optional(),
    requestHandler: z.unknown().optional(),
    flowControl: z.unknown().optional(),
    // kvgate's own (GIE's config has no such field): the key model servers started with vLLM's
    // --api-key require. Its messages never show the value (see validateConfig).
    upstreamApiKey: z
      .string({ error: 'expected a string: the key the model servers were started with (vLLM --api-key), quoted if YAML would read it as a number (the value is not shown)' })
      .trim()
      .superRefine((key, ctx) => {
        const problem = upstreamKeyProblem(key, 'upstreamApiKey');
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  })
  .strict();

export interface PluginSpec {
  name: string;
  type: string;
  parameters: Record<string, unknown>;
}

export interface EffectiveConfig {
  apiVersion: (typeof API_VERSIONS)[number];
  kind: 'EndpointPickerConfig';
  featureGates: string[];
  plugins: PluginSpec[];
  schedulingProfiles: { name: string; plugins: { pluginRef: string; weight?: number }[] }[];
  saturationDetector: { pluginRef: string };
  /** Where the config came from ("preset kvgate", a file path, "built-in default"). */
  source: string;
  /**
   * The file's `upstreamApiKey` (trimmed, printable ASCII): the key sent to the model servers as
   * `Authorization: Bearer <key>` when neither `--upstream-api-key` nor $KVGATE_UPSTREAM_API_KEY
   * is given (cli/api-key-args.ts resolveUpstreamApiKey). Not enumerable, so printing or
   * serialising the effective config (`kvgate config check`, simulate's reports, worker threads)
   * never carries the key.
   */
  readonly upstreamApiKey?: string;
  /**
   * What loading mapped or left unused (deprecated forms, settings kvgate does not need), each
   * naming the source and path. Not enumerable, so printing or serialising the effective config
   * leaves it out; loadConfig also reports each one (see its `onWarning`).
   */
  readonly warnings?: readonly string[];
}

export function listPresets(): string[] {
  return readdirSync(PRESET_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function presetText(name: string): string {
  if (!listPresets().includes(name)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `unknown preset "${name}" (available: ${listPresets().join(', ')})`, { param: 'preset' });
  }
  return readFileSync(`${PRESET_DIR}${name}.yaml`, 'utf8');
}

const BUILT_IN_DEFAULT = 'gie-default';

/** Warnings already written to stderr by this process: each is said once, however often its config is loaded. */
const warned = new Set<string>();

function warnOnStderr(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`kvgate: warning: ${message}\n`);
}

/**
 * Loads an EndpointPickerConfig from a file, a preset or text, validates it strictly and injects
 * the EPP's defaults. With nothing given, the `gie-default` preset (the EPP's built-in default:
 * queue 2, kv 2, prefix 3); the CLI's commands default to the `kvgate` preset instead.
 * Errors name the source and the path inside it (`textSource` names where `text` came from, e.g.
 * the flag `--config-text`; default "config text"). Warnings (see EffectiveConfig.warnings) go to
 * `onWarning`, by default to stderr, once per process.
 */
export function loadConfig(opts: { file?: string; preset?: string; text?: string; textSource?: string; onWarning?: (message: string) => void } = {}): EffectiveConfig {
  if ([opts.file, opts.preset, opts.text].filter((x) => x !== undefined).length > 1) {
    throw new KvgateError(ErrorCode.InvalidConfig, 'give only one of a config file, a preset or config text');
  }
  let source: string;
  let text: string;
  if (opts.file !== undefined) {
    source = opts.file;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new KvgateError(ErrorCode.InvalidConfig, `${opts.file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (opts.text !== undefined) {
    source = opts.textSource ?? 'config text';
    text = opts.text;
  } else {
    const name = opts.preset ?? BUILT_IN_DEFAULT;
    source = opts.preset ? `preset ${name}` : 'built-in default';
    text = presetText(name);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    // yaml's own message for this case tells a programmer to call YAML.parseAllDocuments().
    const e = err as { code?: string; linePos?: { line: number }[] };
    if (e.code === 'MULTIPLE_DOCS') {
      throw new KvgateError(ErrorCode.InvalidConfig, `${source}: more than one YAML document (a --- separator at line ${e.linePos?.[0]?.line ?? '?'}): an EndpointPickerConfig is one document; keep one per file`);
    }
    throw new KvgateError(ErrorCode.InvalidConfig, `${source}: invalid YAML: ${(err as Error).message}`);
  }
  const config = validateConfig(raw, source);
  for (const w of config.warnings ?? []) (opts.onWarning ?? warnOnStderr)(w);
  return config;
}

function pathString(path: PropertyKey[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** A value as an error names what it got: "a list", "a mapping", "null", a quoted string, a number. */
function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'true or false' };

/**
 * A zod issue in words for a config error, given the value found at its path: what was missing
 * or what was there instead of what ("Invalid input: expected string, received undefined" →
 * "missing: expected a string"). Issues with their own wording (unknown keys, bounds, refinements)
 * keep it.
 */
function issueText(issue: z.core.$ZodIssue, root: unknown): string {
  const value = valueAt(root, issue.path);
  const got = value === undefined ? 'missing' : `got ${describeValue(value)}`;
  if (issue.code === 'invalid_type') return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, ${got}`.replace(/^(expected .*), missing$/, 'missing: $1');
  if (issue.code === 'invalid_value') {
    const names = issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    const options = names.length > 2 ? `one of ${names.join(', ')}` : names.join(' or ');
    return value === undefined ? `missing: expected ${options}` : `${describeValue(value)} is not supported: expected ${options}`;
  }
  if (issue.code === 'invalid_union') {
    const types = issue.errors.map((branch) => (branch.length === 1 && branch[0].code === 'invalid_type' && branch[0].path.length === 0 ? branch[0].expected : undefined));
    if (types.every((t) => t !== undefined)) return `expected ${types.map((t) => TYPE_NAMES[t!] ?? t).join(' or ')}, ${got}`;
  }
  return issue.message;
}

export function validateConfig(raw: unknown, source: string): EffectiveConfig {
  if (raw === null || raw === undefined) {
    throw new KvgateError(
      ErrorCode.InvalidConfig,
      `${source} is empty: an EndpointPickerConfig needs at least apiVersion (${API_VERSIONS.join(' or ')}) and kind: EndpointPickerConfig`,
    );
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${source}: expected a mapping with apiVersion, kind and plugins, got ${describeValue(raw)}`);
  }
  const errors: string[] = [];
  const warnings: string[] = [];
  const fail = (path: string, msg: string) => errors.push(`${source}: ${path}: ${msg}`);
  const warn = (path: string, msg: string) => warnings.push(`${source}: ${path}: ${msg}`);
  const parsed = FileSchema.safeParse(raw);
  if (!parsed.success) {
    // upstreamApiKey's issues keep their own wording: issueText would quote the value, a secret.
    for (const issue of parsed.error.issues) fail(pathString(issue.path) || '(top level)', issue.path[0] === 'upstreamApiKey' ? issue.message : issueText(issue, raw));
    throw new KvgateError(ErrorCode.InvalidConfig, errors.join('\n'));
  }
  const c = parsed.data;
  for (const [i, g] of (c.featureGates ?? []).entries()) {
    if (!FEATURE_GATES.includes(g)) fail(`featureGates[${i}]`, `unknown feature gate "${g}" (known: ${FEATURE_GATES.join(', ')})`);
  }
  const plugins: PluginSpec[] = [];
  const names = new Set<string>();
  /** The kind of every declared plugin of a known type, its parameters valid or not. */
  const kinds = new Map<string, string>();
  /**
   * Declared plugins already reported (unknown type, bad parameters): a reference to one is the
   * same mistake, not a second "no plugin named …" error.
   */
  const reported = new Set<string>();
  /** The first declared plugin of each onePerConfig type: its name and index in `plugins`. */
  const onlyOne = new Map<string, { name: string; index: number }>();
  for (const [i, p] of (c.plugins ?? []).entries()) {
    const name = p.name ?? p.type;
    const def = pluginDefinition(p.type);
    if (!def) {
      const removed = removedPluginType(p.type);
      fail(`plugins[${i}].type`, removed ? `plugin type "${p.type}" is ${removed}` : `unknown plugin type "${p.type}" (known: ${pluginTypes().join(', ')})`);
      reported.add(name);
      continue;
    }
    const formerName = def.renamedFrom?.[p.type];
    if (formerName) warn(`plugins[${i}].type`, `"${p.type}" is ${formerName}; loaded as ${def.type} — rename it to silence this`);
    const first = def.onePerConfig === undefined ? undefined : onlyOne.get(def.type);
    if (first) {
      fail(
        `plugins[${i}]`,
        `"${name}" is a second ${def.type} plugin beside "${first.name}" (plugins[${first.index}]): one gives ${def.onePerConfig}, so a config declares at most one — keep one of "${first.name}" and "${name}"`,
      );
    } else if (names.has(name)) fail(`plugins[${i}].name`, `duplicate plugin name "${name}"`);
    if (def.onePerConfig !== undefined && !first) onlyOne.set(def.type, { name, index: i });
    names.add(name);
    kinds.set(name, def.kind);
    const params = def.parameters.safeParse(p.parameters ?? {});
    if (!params.success) {
      for (const issue of params.error.issues) fail(`plugins[${i}].parameters${issue.path.length ? '.' + pathString(issue.path) : ''}`, issueText(issue, p.parameters ?? {}));
      reported.add(name);
      continue;
    }
    const review = def.review?.(params.data) ?? {};
    for (const w of review.warnings ?? []) warn(`plugins[${i}].parameters`, `${name}: ${w}`);
    if (review.errors?.length) {
      for (const e of review.errors) fail(`plugins[${i}].parameters.${e.path}`, e.message);
      reported.add(name);
      continue;
    }
    plugins.push({ name, type: def.type, parameters: (p.parameters ?? {}) as Record<string, unknown> });
  }
  const kindOf = (name: string) => kinds.get(name);
  /** A new plugin of `type` under a name no other plugin has. */
  const declare = (type: string, parameters: Record<string, unknown>): string => {
    let name = type;
    for (let n = 2; names.has(name); n++) name = `${type}-${n}`;
    names.add(name);
    kinds.set(name, pluginDefinition(type)!.kind);
    plugins.push({ name, type, parameters });
    return name;
  };
  const addPlugin = (type: string): string => plugins.find((p) => p.type === type)?.name ?? declare(type, {});

  // Profiles: none → one "default" profile with every filter, scorer and picker.
  let profiles = (c.schedulingProfiles ?? []).map((p) => ({ name: p.name, plugins: p.plugins.map((r) => ({ ...r })) }));
  if (profiles.length === 0) {
    profiles = [
      {
        name: 'default',
        plugins: plugins.filter((p) => ['filter', 'scorer', 'picker'].includes(pluginDefinition(p.type)!.kind)).map((p) => ({ pluginRef: p.name })),
      },
    ];
  }
  const profileNames = new Set<string>();
  for (const [i, prof] of profiles.entries()) {
    if (profileNames.has(prof.name)) fail(`schedulingProfiles[${i}].name`, `duplicate profile name "${prof.name}"`);
    profileNames.add(prof.name);
    for (const [j, ref] of prof.plugins.entries()) {
      const kind = kindOf(ref.pluginRef);
      if (!kind) {
        if (!reported.has(ref.pluginRef)) fail(`schedulingProfiles[${i}].plugins[${j}].pluginRef`, `no plugin named "${ref.pluginRef}" (known: ${[...names].join(', ') || 'none'})`);
      }
      else if (!['filter', 'scorer', 'picker'].includes(kind)) fail(`schedulingProfiles[${i}].plugins[${j}].pluginRef`, `"${ref.pluginRef}" is a ${kind}, not a filter, scorer or picker`);
    }
    const pickers = prof.plugins.filter((r) => kindOf(r.pluginRef) === 'picker');
    if (pickers.length > 1) fail(`schedulingProfiles[${i}].plugins`, 'a profile has at most one picker');
    if (pickers.length === 0) prof.plugins.push({ pluginRef: addPlugin('max-score-picker') });
  }
  const handlers = plugins.filter((p) => pluginDefinition(p.type)!.kind === 'profile-handler');
  if (handlers.length > 1) fail('plugins', 'more than one profile handler');
  if (handlers.length === 0) {
    if (profiles.length > 1) fail('schedulingProfiles', 'several profiles need a profile handler plugin; kvgate provides single-profile-handler only');
    else addPlugin('single-profile-handler');
  } else if (profiles.length > 1) {
    fail('schedulingProfiles', 'single-profile-handler runs exactly one profile');
  }
  const sd = c.saturationDetector;
  const legacy = LEGACY_SATURATION_KEYS.filter((k) => sd?.[k] !== undefined);
  let saturationRef = sd?.pluginRef;
  if (legacy.length && saturationRef !== undefined) {
    fail(
      'saturationDetector',
      `pluginRef and ${legacy.join(', ')} cannot be combined: the thresholds directly under saturationDetector are GIE v1.2–v1.4's form, pluginRef GIE v1.5's; ` +
        `give them as parameters of the plugin "${saturationRef}" (a utilization-detector), or drop pluginRef`,
    );
  } else if (legacy.length) {
    const mapped = legacySaturationParameters(sd!);
    const check = pluginDefinition('utilization-detector')!.parameters.safeParse(mapped.parameters);
    if (!check.success) {
      for (const issue of check.error.issues) fail(`saturationDetector.${pathString(issue.path)}`, issueText(issue, mapped.parameters));
    } else {
      saturationRef = declare('utilization-detector', mapped.parameters);
      warn(
        'saturationDetector',
        `thresholds directly under saturationDetector (${legacy.join(', ')}) are GIE v1.2–v1.4's form (GIE v1.5 replaced them with a detector plugin named by pluginRef); ` +
          `read as the parameters of a utilization-detector plugin "${saturationRef}"${mapped.notes.length ? ` (${mapped.notes.join('; ')})` : ''} — ` +
          `declare that plugin with these parameters and set saturationDetector.pluginRef to its name to silence this`,
      );
    }
  }
  if (saturationRef === undefined) saturationRef = addPlugin('utilization-detector');
  else if (kindOf(saturationRef) !== 'saturation-detector' && !(kindOf(saturationRef) === undefined && reported.has(saturationRef))) fail('saturationDetector.pluginRef', `no saturation detector plugin named "${saturationRef}"`);

  if (errors.length) throw new KvgateError(ErrorCode.InvalidConfig, errors.join('\n'));
  const config: EffectiveConfig = {
    apiVersion: c.apiVersion,
    kind: 'EndpointPickerConfig',
    featureGates: c.featureGates ?? [],
    plugins,
    schedulingProfiles: profiles,
    saturationDetector: { pluginRef: saturationRef },
    source,
  };
  Object.defineProperty(config, 'warnings', { value: Object.freeze(warnings), enumerable: false });
  if (c.upstreamApiKey !== undefined) Object.defineProperty(config, 'upstreamApiKey', { value: c.upstreamApiKey, enumerable: false });
  return config;
}

/**
 * GIE v1.2–v1.4's saturationDetector thresholds as utilization-detector parameters. Those
 * versions took a threshold only inside its range (queue > 0, 0 < KV < 1, staleness > 0) and
 * used the default otherwise; so does this, saying so in `notes`. Values of the wrong type are
 * passed on, for the detector's schema to report.
 */
function legacySaturationParameters(sd: Partial<Record<(typeof LEGACY_SATURATION_KEYS)[number], unknown>>): { parameters: Record<string, unknown>; notes: string[] } {
  const parameters: Record<string, unknown> = {};
  const notes: string[] = [];
  const outOfRange: Record<(typeof LEGACY_SATURATION_KEYS)[number], [(v: unknown) => boolean, string]> = {
    queueDepthThreshold: [(v) => typeof v === 'number' && v <= 0, '5'],
    kvCacheUtilThreshold: [(v) => typeof v === 'number' && (v <= 0 || v >= 1), '0.8'],
    metricsStalenessThreshold: [(v) => (typeof v === 'string' ? parseDurationMs(v) === 0 : typeof v === 'number' && v <= 0), '200ms'],
  };
  for (const k of LEGACY_SATURATION_KEYS) {
    const v = sd[k];
    if (v === undefined) continue;
    const [out, dflt] = outOfRange[k];
    if (out(v)) notes.push(`${k} ${describeValue(v)} is out of range, so GIE's default ${dflt} is used, as GIE v1.4 did`);
    else parameters[k] = v;
  }
  return { parameters, notes };
}
