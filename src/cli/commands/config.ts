import { Command } from 'commander';
import { DEFAULT_PRESET } from '../options.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Inspect and validate EndpointPickerConfig files and presets');
  config
    .command('check')
    .description('Validate a config (or a preset) and print it with the EPP defaults injected; exit 1 on errors')
    .argument('[file]', 'EndpointPickerConfig YAML file')
    .option('--preset <name>', `check a built-in preset instead of a file (default: ${DEFAULT_PRESET}, the preset every command routes with when given none)`)
    .option('--json', 'print the effective config as JSON', false)
    .action(async (file: string | undefined, o: { preset?: string; json: boolean }) => {
      const { loadConfig } = await import('../../router/index.js');
      const { stringify } = await import('yaml');
      // Without a file or --preset: the preset serve, epp, up and simulate run by default, not
      // loadConfig's own fallback (the EPP's built-in profile), which no command uses.
      const eff = loadConfig(file ? { file } : { preset: o.preset ?? DEFAULT_PRESET });
      const { source, ...body } = eff;
      if (o.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      else process.stdout.write(`# effective config from ${source} (defaults injected)\n${stringify(body)}`);
    });
  config
    .command('presets')
    .description('List the built-in routing presets')
    .option('--json', 'print as JSON', false)
    .action(async (o: { json: boolean }) => {
      const { listPresets, presetText } = await import('../../router/index.js');
      const rows = listPresets().map((name) => ({ name, description: presetText(name).split('\n')[0].replace(/^#\s*/, '') }));
      if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else for (const r of rows) process.stdout.write(`${r.name.padEnd(20)} ${r.description}\n`);
    });
}
