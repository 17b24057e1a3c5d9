/**
 * Finds the kvgate command lines a Markdown page shows, and its tables of flags, for
 * test/structure/docs-flags.test.ts (the guard that docs name only flags the CLI accepts).
 *
 * The parser is deliberately small. A "command line" is
 *  - a line of a fenced code block (``` or ~~~), with lines ending in `\` joined to the next, or
 *  - an inline code span (`kvgate serve --preset precise`) outside fenced blocks,
 * cut into shell segments at `&&`, `||`, `;`, `|` and `&` (not inside `[…]`, the usage notation of
 * `[--preset kvgate | --config-file epp.yaml]`), after quoted text ('…', "…") is blanked and a
 * `#` comment dropped. A segment counts only when its program is kvgate: `kvgate …`, `npx kvgate …`,
 * `node dist/cli/run.js …` or `node bin/kvgate.js …` (a leading `$ ` prompt allowed). So
 * `vllm serve --port 8000`, `kubectl …`, `curl …`, `h2load …` are never read, by construction.
 */

/** One kvgate invocation a page shows. `words` are the non-flag words after the program. */
export interface DocInvocation {
  file: string;
  /** 1-based line of the page where the (joined) command line starts. */
  line: number;
  /** The words after the program up to the first flag, e.g. ['simulate', 'plan'] or ['up']. */
  words: string[];
  /** Flags as written, without `=value`: `--preset`, `--no-kv-events`, `-o`. */
  flags: string[];
  /** The command line as the page has it (continuations joined), for failure messages. */
  text: string;
}

/** One row of a Markdown table whose first cell names flags in code spans. */
export interface DocFlagRow {
  file: string;
  line: number;
  /** The nearest heading above the table, without its `#`s. */
  heading: string;
  /**
   * Each flag of the first cell with the commands a "(serve, epp)" mark after it names (empty: no
   * mark, the table's commands apply). A mark applies to every flag since the previous mark.
   */
  flags: { flag: string; marked: string[] }[];
}

const FENCE = /^\s*(```|~~~)/;
const FLAG = /^(--?[A-Za-z][\w-]*)/;

/** Blanks quoted strings (their flags are text, e.g. a --prompt's value) and drops a `#` comment. */
function stripShell(text: string): string {
  const unquoted = text.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '""');
  return unquoted.replace(/(^|\s)#.*$/, '$1');
}

/** Splits at shell control operators outside `[…]`. */
function segments(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    if (c === ']') depth = Math.max(0, depth - 1);
    if (depth === 0 && (c === ';' || c === '|' || c === '&')) {
      out.push(cur);
      cur = '';
      if (text[i + 1] === c) i++;
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** The words after the program when a segment runs kvgate, else undefined. */
function kvgateArgs(segment: string): string[] | undefined {
  const t = segment.trim().split(/\s+/).filter((w) => w !== '');
  if (t[0] === '$') t.shift();
  if (t[0] === 'kvgate') return t.slice(1);
  if (t[0] === 'npx' && t[1] === 'kvgate') return t.slice(2);
  if (t[0] === 'node' && (t[1] === 'dist/cli/run.js' || t[1] === 'bin/kvgate.js')) return t.slice(2);
  return undefined;
}

/** The kvgate invocations in one command line (usually none or one). */
export function invocationsIn(text: string, file: string, line: number): DocInvocation[] {
  const out: DocInvocation[] = [];
  for (const seg of segments(stripShell(text))) {
    const args = kvgateArgs(seg);
    if (!args) continue;
    const words: string[] = [];
    const flags: string[] = [];
    for (const raw of args) {
      const w = raw.replace(/^\[+|\]+$/g, '');
      const m = FLAG.exec(w);
      if (m) flags.push(m[1]);
      else if (flags.length === 0 && /^[a-z][\w-]*$/.test(w)) words.push(w);
    }
    out.push({ file, line, words, flags, text: text.trim() });
  }
  return out;
}

/** Every kvgate invocation of a Markdown page: fenced code lines and inline code spans. */
export function docInvocations(markdown: string, file: string): DocInvocation[] {
  const lines = markdown.split('\n');
  const out: DocInvocation[] = [];
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    if (FENCE.test(lines[i])) {
      fenced = !fenced;
      continue;
    }
    if (fenced) {
      const start = i;
      let text = lines[i];
      while (/\\\s*$/.test(text) && i + 1 < lines.length && !FENCE.test(lines[i + 1])) text = text.replace(/\\\s*$/, ' ') + lines[++i];
      out.push(...invocationsIn(text, file, start + 1));
      continue;
    }
    for (const m of lines[i].matchAll(/`([^`]+)`/g)) out.push(...invocationsIn(m[1], file, i + 1));
  }
  return out;
}

/**
 * Every table row of a page whose first cell starts with a flag in a code span (outside fenced
 * blocks), or, under a heading `bareNamesUnder` accepts, with a bare flag name in a code span.
 */
export function docFlagRows(
  markdown: string,
  file: string,
  commandNames: ReadonlySet<string>,
  bareNamesUnder: (heading: string) => boolean = () => false,
): DocFlagRow[] {
  const lines = markdown.split('\n');
  const out: DocFlagRow[] = [];
  let fenced = false;
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (FENCE.test(l)) fenced = !fenced;
    if (fenced) continue;
    if (/^#{1,6}\s/.test(l)) heading = l.replace(/^#+\s*/, '').trim();
    if (!l.startsWith('|')) continue;
    const first = l.split('|')[1] ?? '';
    // A row about flags starts with one; under a heading of bare names (`port`, llm-d's spelling
    // in docs/sim.md's parity table) a name in a code span stands for its --flag.
    const bare = bareNamesUnder(heading);
    if (!first.trim().startsWith(bare ? '`' : '`-')) continue;
    const flags: DocFlagRow['flags'] = [];
    let pending: string[] = [];
    // Code spans give flags; a parenthesised list of command names marks the flags before it.
    for (const m of first.matchAll(/`([^`]*)`|\(([a-z]+(?:, [a-z]+)*)\)/g)) {
      if (m[1] !== undefined) {
        const f = FLAG.exec(m[1].trim());
        if (f) pending.push(f[1]);
        else if (bare && /^[A-Za-z][\w-]*$/.test(m[1])) pending.push(`--${m[1]}`);
      } else if (m[2].split(', ').every((w) => commandNames.has(w))) {
        for (const flag of pending) flags.push({ flag, marked: m[2].split(', ') });
        pending = [];
      }
    }
    for (const flag of pending) flags.push({ flag, marked: [] });
    if (flags.length > 0) out.push({ file, line: i + 1, heading, flags });
  }
  return out;
}
