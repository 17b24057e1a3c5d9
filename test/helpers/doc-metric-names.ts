/**
 * Finds the Prometheus metric names a page (Markdown, YAML, JSON) mentions, and the names a
 * process's /metrics lets a query use, for test/structure/docs-metrics.test.ts (the guard that
 * docs, alerts and dashboards name only metrics the processes expose).
 *
 * A mention is any token in kvgate's, the Gateway API Inference Extension's or vLLM's namespace:
 * `kvgate_…`, `inference_pool_…`, `inference_objective_…`, `inference_extension_…`, `vllm:…`
 * (lower case: `KVGATE_…` environment variables are not metrics). A token ending in `_` (written
 * `vllm:gpu_prefix_cache_*` or `inference_pool_…`) stands for every name it starts. An elided
 * name, `…_request_error_total` after `inference_objective_request_total`, stands for a stem of
 * the page's previous full name (cut at an `_`, keeping the namespace) followed by its suffix:
 * it is fine when any such name is exposed. A name in a code span followed by `(serve)` or
 * `(epp)` is said to be that command's.
 */

/** One metric name a page mentions. */
export interface DocMetric {
  file: string;
  /** 1-based line of the page. */
  line: number;
  /** As written, without `{labels}`, `[range]` or a trailing `*`. */
  name: string;
  /** The name ends in `_`: a prefix of the names meant (`vllm:external_prefix_cache_*`). */
  prefix: boolean;
  /** For an elided name (`…_queue_bytes`): the full names it may stand for, longest stem first. */
  candidates?: string[];
  /** The command a `(serve)` / `(epp)` mark after the name gives it. */
  command?: 'serve' | 'epp';
}

const NAMESPACE = /^(kvgate|inference_(?:pool|objective|extension)|vllm:[a-z0-9]+)/;
const METRIC = /(?<![\w:./-])(kvgate_[a-z0-9_]+|inference_(?:pool|objective|extension)_[a-z0-9_]*|vllm:[a-z0-9_:]+)|(?:…|\.\.\.)(_[a-z0-9_]+)/g;
const MARK = /^(?:\{[^}`]*\})?\*?`\s*\((serve|epp)\)/;

/** The names `…_suffix` may stand for after `previous`: each of its stems (at `_`, within the namespace) + suffix. */
function expansions(previous: string, suffix: string): string[] {
  const ns = NAMESPACE.exec(previous)![0].length;
  const out: string[] = [];
  for (let i = previous.lastIndexOf('_'); i >= ns; i = previous.lastIndexOf('_', i - 1)) out.push(previous.slice(0, i) + suffix);
  return out;
}

/** Every metric name `text` mentions, line by line. */
export function docMetricNames(text: string, file: string): DocMetric[] {
  const out: DocMetric[] = [];
  let previous: string | undefined;
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(METRIC)) {
      const command = MARK.exec(l.slice(m.index! + m[0].length))?.[1] as DocMetric['command'];
      const at = { file, line: i + 1, ...(command ? { command } : {}) };
      if (m[1] !== undefined) {
        out.push({ ...at, name: m[1], prefix: m[1].endsWith('_') });
        previous = m[1];
      } else if (previous !== undefined) {
        out.push({ ...at, name: `…${m[2]}`, prefix: false, candidates: expansions(previous, m[2]) });
      }
    }
  });
  return out;
}

/**
 * The names a query may use for the families of one Prometheus text exposition that have at
 * least one sample (a family declared by `# TYPE` but never observed gives a query nothing).
 * Rules (Prometheus exposition formats): a counter is `NAME_total` in the text and may be written
 * without `_total` (OpenMetrics' family name); a histogram family `NAME` has the series
 * `NAME_bucket`, `NAME_sum`, `NAME_count`; a summary `NAME`, `NAME_sum`, `NAME_count`.
 */
export function exposedNames(exposition: string): Set<string> {
  const types = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of exposition.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
    } else if (line !== '' && !line.startsWith('#')) {
      sampled.add(/^[^{\s]+/.exec(line)![0]);
    }
  }
  const out = new Set<string>();
  for (const [name, type] of types) {
    const series = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    if (!series.some((s) => sampled.has(name + s))) continue;
    out.add(name);
    for (const s of series) out.add(name + s);
    if (type === 'counter' && name.endsWith('_total')) out.add(name.slice(0, -'_total'.length));
  }
  return out;
}

/** True when `m` names one of `names` (an elided name: any of its candidates), or (a prefix) starts one of them. */
export function isExposed(m: Pick<DocMetric, 'name' | 'prefix' | 'candidates'>, names: ReadonlySet<string>): boolean {
  if (m.candidates) return m.candidates.some((c) => names.has(c));
  if (!m.prefix) return names.has(m.name);
  for (const n of names) if (n.startsWith(m.name)) return true;
  return false;
}
