import { Command } from 'commander';
import { DEFAULT_PRESET, checkReadableFiles } from '../options.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Inspect and validate EndpointPickerConfig files and presets');
  config
    .command('check')
    .description('Validate a config (or a preset) and print it with the EPP defaults injected; exit 1 on errors')
    .argument('[file]', 'EndpointPickerConfig YAML file')
    .option('--preset <name>', `check a built-in preset instead of a file (not with FILE; default: ${DEFAULT_PRESET}, the preset every command routes with when given none)`)
    .option('--json', 'print the effective config as JSON', false)
    .action(async (file: string | undefined, o: { preset?: string; json: boolean }) => {
      if (file !== undefined && o.preset !== undefined) {
        const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
        throw new KvgateError(ErrorCode.InvalidConfig, `--preset ${o.preset} and the file ${file} both name a config to check: give one of them`, { param: '--preset' });
      }
      // A missing or unreadable FILE names the command and the path, as file flags do.
      if (file !== undefined) await checkReadableFiles({ 'config check': file });
      const { loadConfig } = await import('../../router/index.js');
      const { stringify } = await import('yaml');
      // Without a file or --preset: the preset serve, epp, up and simulate run by default, not
      // loadConfig's own fallback (the EPP's built-in profile), which no command uses.
      const eff = loadConfig(file ? { file } : { preset: o.preset ?? DEFAULT_PRESET });
      const { source, ...body } = eff;
      // upstreamApiKey is non-enumerable (never serialised): say it was found, never its value.
      // The JSON on stdout stays the effective config alone, so the note goes to stderr there.
      const keyNote = eff.upstreamApiKey === undefined ? undefined : 'upstreamApiKey: set (value not shown; --upstream-api-key and $KVGATE_UPSTREAM_API_KEY override it)';
      if (o.json) {
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
        if (keyNote) process.stderr.write(`config check: ${keyNote}\n`);
      } else process.stdout.write(`# effective config from ${source} (defaults injected)\n${keyNote ? `# ${keyNote}\n` : ''}${stringify(body)}`);
    });
  config
    .command('presets')
    .description('List the built-in routing presets')
    .option('--json', 'print as JSON: name, summary (the first sentence) and the whole description', false)
    .action(async (o: { json: boolean }) => {
      const { listPresets, presetText } = await import('../../router/index.js');
      const rows = listPresets().map((name) => {
        const description = presetDescription(presetText(name));
        return { name, summary: firstSentence(description), description };
      });
      if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else {
        // One whole sentence per preset (a description's first line may stop mid-sentence),
        // wrapped under its column rather than cut.
        const width = Math.max(60, Math.min(process.stdout.columns ?? 100, 120)) - 21;
        for (const r of rows) process.stdout.write(`${r.name.padEnd(20)} ${wrap(r.summary, width).join(`\n${' '.repeat(21)}`)}\n`);
      }
    });
}

/** A preset's description: the comment lines at the top of its YAML, joined. */
export function presetDescription(yaml: string): string {
  const lines: string[] = [];
  for (const line of yaml.split('\n')) {
    if (!line.startsWith('#')) break;
    lines.push(line.replace(/^#\s?/, '').trim());
  }
  return lines.join(' ').replace(/\s+/g, ' ').trim();
}

/** Up to the first full stop followed by a space or the end (not the dot of "v0.15" or "e.g."). */
export function firstSentence(text: string): string {
  const m = /^.*?[.!?](?=\s+[A-Z(`]|$)/s.exec(text);
  return m ? m[0] : text;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
