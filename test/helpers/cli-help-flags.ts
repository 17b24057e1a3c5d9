import { runKvgate } from './cli.js';

/** What one command's `--help` says it accepts. */
export interface HelpFlags {
  /** Every spelling the Options: section lists: long names, aliases (`-o`), `--no-x` negations. */
  flags: Set<string>;
  /** The same, one entry per option line: its spellings, e.g. ['-o', '--output']. */
  options: string[][];
  /** Names in the Commands: section (commander's `help` left out). */
  subcommands: string[];
}

/**
 * Reads commander's help text (src/cli/commands/*.ts build it): option lines start with two
 * spaces and a dash (`  -o, --output <dir>`, `  --no-kv-events`); command lines with two spaces
 * and a name (`  plan [options]`). Wrapped descriptions are indented further, so they never match.
 * commander accepts exactly what it lists: a `--no-x` defined alone does not accept `--x`.
 */
export function parseHelp(text: string): HelpFlags {
  const flags = new Set<string>();
  const options: string[][] = [];
  const subcommands: string[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S.*:$/.test(line)) section = line;
    else if (section === 'Options:') {
      const m = /^ {2}(-{1,2}[\w-]+(?:, -{1,2}[\w-]+)*)/.exec(line);
      if (m) options.push(m[1].split(', '));
    } else if (section === 'Commands:') {
      const m = /^ {2}([a-z][\w-]*)/.exec(line);
      if (m && m[1] !== 'help') subcommands.push(m[1]);
    }
  }
  for (const o of options) for (const f of o) flags.add(f);
  return { flags, options, subcommands };
}

/** Runs the compiled `kvgate <words> --help` once per command path and parses it. */
export async function helpFlags(words: string[]): Promise<HelpFlags> {
  const r = await runKvgate([...words, '--help']);
  if (r.code !== 0) throw new Error(`kvgate ${words.join(' ')} --help exited ${r.code}: ${r.stderr}`);
  return parseHelp(r.stdout);
}
