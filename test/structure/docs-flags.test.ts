// The docs name only flags the CLI accepts: every kvgate command line in README.md and docs/*.md
// (fenced or inline), and every row of a flag table, is checked against the compiled CLI's
// `--help` (test/helpers/doc-invocations.ts finds them; test/helpers/cli-help-flags.ts reads help).
// The reverse — flags a command has that its page never mentions — is reported as diagnostics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { helpFlags, type HelpFlags } from '../helpers/cli-help-flags.js';
import { docFlagRows, docInvocations, type DocFlagRow } from '../helpers/doc-invocations.js';

const read = (page: string) => readFileSync(join(repoRoot, page), 'utf8');

const PAGES = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/**
 * Which commands a flag table documents, by page and the heading above the table. Each inner list
 * is one requirement met by any of its commands: [['serve'], ['epp']] = the flag exists in serve
 * and in epp; [['simulate', 'simulate plan']] = in simulate or in its plan subcommand. A row's own
 * "(serve, epp)" mark replaces the table's commands for the flags before it (README.md's rule: "a
 * flag marked with commands exists only there"). A flag table under no entry here fails the test,
 * so a new table gets its commands decided. `bareNames`: the table writes flags without dashes
 * (docs/sim.md's parity table, in llm-d-inference-sim's spelling). `complete`: the table means to
 * list every flag of its commands; the flags it lacks are reported (not failed) below.
 */
const TABLE_COMMANDS: Record<string, { heading: RegExp; commands: string[][]; bareNames?: true; complete?: true }[]> = {
  'README.md': [
    { heading: /^`kvgate up`$/, commands: [['up']] },
    // "`serve`, `epp` and `up` share their option groups (same names, defaults and conflict rules)"
    { heading: /^`kvgate serve`$/, commands: [['serve'], ['epp'], ['up']] },
  ],
  'docs/simulate.md': [{ heading: /^Flags$/, commands: [['simulate', 'simulate plan']], complete: true }],
  'docs/epp.md': [{ heading: /^`kvgate epp`/, commands: [['epp']], complete: true }],
  'docs/sim.md': [{ heading: /^Flags$/, commands: [['sim']], bareNames: true }],
  'docs/flow-control.md': [{ heading: /^Timeouts and memory \(`kvgate serve`, `kvgate up`\)$/, commands: [['serve'], ['up']] }],
  'docs/router.md': [{ heading: /^Precise prefix routing from the engines' KV events/, commands: [['serve'], ['epp']] }],
};

const tableOf = (page: string, heading: string) => TABLE_COMMANDS[page]?.find((e) => e.heading.test(heading));

/** A page's flag-table rows, with flags written bare read under the headings that say so. */
const flagRows = (page: string, commands: ReadonlySet<string>) =>
  docFlagRows(read(page), page, commands, (heading) => tableOf(page, heading)?.bareNames === true);

/** The pages that document each command, for the reverse (report-only) check. */
const COMMAND_PAGES: Record<string, string[]> = {
  up: ['README.md'],
  sim: ['docs/sim.md'],
  serve: ['docs/gateway.md', 'README.md'],
  epp: ['docs/epp.md', 'README.md'],
  config: ['docs/router.md', 'README.md'],
  verify: ['docs/verify-bench-cost.md'],
  bench: ['docs/verify-bench-cost.md'],
  simulate: ['docs/simulate.md'],
  cost: ['docs/verify-bench-cost.md'],
  render: ['docs/deployment-guide.md', 'docs/monitoring.md'],
  preflight: ['docs/deployment-guide.md'],
  top: ['docs/monitoring.md'],
};

/** `kvgate <path> --help` for the top level, every command and every subcommand, keyed by path. */
async function loadHelp(): Promise<Map<string, HelpFlags>> {
  const help = new Map<string, HelpFlags>([['', await helpFlags([])]]);
  const queue = help.get('')!.subcommands.map((c) => [c]);
  // Two at a time: the machine is small and each start costs about 0.4 s of CPU.
  const worker = async () => {
    for (let words = queue.shift(); words; words = queue.shift()) {
      const h = await helpFlags(words);
      help.set(words.join(' '), h);
      if (words.length === 1) queue.push(...h.subcommands.map((s) => [...words, s]));
    }
  };
  await Promise.all([worker(), worker()]);
  return help;
}
let helpOnce: Promise<Map<string, HelpFlags>> | undefined;
/** loadHelp once for every test of this file. */
const allHelp = () => (helpOnce ??= loadHelp());

test('every flag a kvgate command line in the docs uses is one its command accepts', async (t) => {
  const help = await allHelp();
  const commands = new Set(help.get('')!.subcommands);
  const problems: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const inv of docInvocations(read(page), page)) {
      const [cmd, sub] = inv.words;
      if (cmd !== undefined && !commands.has(cmd)) {
        if (inv.flags.length > 0) problems.push(`${page}:${inv.line}: \`kvgate ${cmd}\` is not a command (${inv.text})`);
        continue;
      }
      const path = cmd === undefined ? '' : sub !== undefined && help.get(cmd)!.subcommands.includes(sub) ? `${cmd} ${sub}` : cmd;
      for (const flag of inv.flags) {
        checked++;
        if (!help.get(path)!.flags.has(flag)) problems.push(`${page}:${inv.line}: \`kvgate ${path}\` has no ${flag} (${inv.text})`);
      }
    }
  }
  t.diagnostic(`${checked} flags on kvgate command lines checked`);
  assert.ok(checked > 100, `only ${checked} flags found: is the parser still reading the docs?`);
  assert.deepEqual(problems, []);
});

test('every flag in a flag table exists for the commands the table documents', async (t) => {
  const help = await allHelp();
  const commands = new Set(help.get('')!.subcommands);
  const problems: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const row of flagRows(page, commands)) {
      const table = tableOf(page, row.heading);
      if (!table) {
        problems.push(`${page}:${row.line}: a flag table under "${row.heading}" has no commands in TABLE_COMMANDS`);
        continue;
      }
      for (const { flag, marked } of row.flags) {
        const groups = marked.length > 0 ? marked.map((c) => [c]) : table.commands;
        for (const group of groups) {
          checked++;
          if (!group.some((c) => help.get(c)?.flags.has(flag))) problems.push(`${page}:${row.line}: \`kvgate ${group.join('` / `kvgate ')}\` has no ${flag}`);
        }
      }
    }
  }
  t.diagnostic(`${checked} table flags checked`);
  assert.ok(checked > 100, `only ${checked} table flags found: is the parser still reading the tables?`);
  assert.deepEqual(problems, []);
});

test('flags the docs leave out (reported, not failed)', async (t) => {
  const help = await allHelp();
  const commands = new Set(help.get('')!.subcommands);
  const mentions = (text: string, tabled: Set<string>, flag: string) =>
    tabled.has(flag) || new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(text);
  // A command's options that none of its pages names, in any spelling (`-o` counts for --output).
  for (const [path, h] of help) {
    if (path === '') continue;
    const pages = COMMAND_PAGES[path.split(' ')[0]];
    assert.ok(pages, `kvgate ${path} has no pages in COMMAND_PAGES`);
    const text = pages.map(read).join('\n');
    const tabled = new Set(pages.flatMap((p) => flagRows(p, commands).flatMap((r) => r.flags.map((f) => f.flag))));
    const missing = h.options.filter((o) => !o.includes('--help') && !o.some((f) => mentions(text, tabled, f)));
    if (missing.length > 0) t.diagnostic(`not on ${pages.join(', ')}: kvgate ${path} ${missing.map((o) => o.at(-1)).join(' ')}`);
  }
  // The options a table meant to be complete lacks.
  for (const [page, tables] of Object.entries(TABLE_COMMANDS)) {
    for (const table of tables.filter((e) => e.complete)) {
      const tabled = new Set(flagRows(page, commands).filter((r) => table.heading.test(r.heading)).flatMap((r) => r.flags.map((f) => f.flag)));
      for (const path of table.commands.flat()) {
        const missing = help.get(path)!.options.filter((o) => !o.includes('--help') && !o.some((f) => tabled.has(f)));
        if (missing.length > 0) t.diagnostic(`not in ${page}'s ${table.heading} table: kvgate ${path} ${missing.map((o) => o.at(-1)).join(' ')}`);
      }
    }
  }
});

/** Table rows are found by heading and mark, and a mark names only the flags before it. */
test('the table parser reads "(serve, epp)" marks', () => {
  const rows: DocFlagRow[] = docFlagRows('## H\n| `--a`, `--b` (serve, epp), `--c` | x |\n| `--d` (+ `--e`) | |\n', 'p.md', new Set(['serve', 'epp']));
  assert.deepEqual(rows.map((r) => r.flags), [
    [{ flag: '--a', marked: ['serve', 'epp'] }, { flag: '--b', marked: ['serve', 'epp'] }, { flag: '--c', marked: [] }],
    [{ flag: '--d', marked: [] }, { flag: '--e', marked: [] }],
  ]);
});

test('only command lines whose program is kvgate are read', () => {
  const md = [
    '```sh',
    'vllm serve Qwen --port 8000 --kv-events-config x',
    'npm ci && npx kvgate up --replicas 2 &   # --not-this',
    'kvgate serve --endpoints a \\',
    '  --preset kvgate [--port 8080 | --config-file f]',
    'curl -s http://x | kvgate-fake --y',
    'kvgate bench --prompt "say --no-such-flag" --json',
    '```',
    'Run `kvgate simulate plan --slo ttft=1s` or `kubectl apply -f x`.',
  ].join('\n');
  const got = docInvocations(md, 'p.md').map((i) => [i.line, i.words.join(' '), i.flags.join(' ')]);
  assert.deepEqual(got, [
    [3, 'up', '--replicas'],
    [4, 'serve', '--endpoints --preset --port --config-file'],
    [7, 'bench', '--prompt --json'],
    [9, 'simulate plan', '--slo'],
  ]);
});
