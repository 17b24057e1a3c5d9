import { Command } from 'commander';
import { intArg, waitForSignal } from '../parse.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('Start a local fleet: simulated vLLM replicas behind the cache-aware router, ready to curl')
    .option('--replicas <n>', 'number of simulated replicas', intArg('--replicas', 1), 3)
    .option('--sim-base-port <port>', 'port of the first replica (+1 per replica; 0 = any free ports)', intArg('--sim-base-port'), 8000)
    .option('--kv-events-base-port <port>', 'first KV-events ZMQ port (+1 per replica; 0 = off)', intArg('--kv-events-base-port'), 5557)
    .option('--profile <name>', 'simulator profile', 'qwen2.5-3b-tpu-v6e')
    .option('--model <name>', 'model name', 'Qwen/Qwen2.5-3B-Instruct')
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--json', 'print one JSON line with the URLs when ready', false)
    .action(async (o) => {
      const { startSimFleet } = await import('../../sim/fleet.js');
      const fleet = await startSimFleet({
        replicas: o.replicas,
        basePort: o.simBasePort,
        kvEventsBasePort: o.kvEventsBasePort && o.simBasePort ? o.kvEventsBasePort : undefined,
        profile: o.profile,
        model: o.model,
        host: o.host,
      });
      const urls = fleet.replicas.map((r) => r.url);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ replicas: urls })}\n`);
      } else {
        process.stdout.write(`kvgate fleet: ${urls.length} simulated replicas (profile ${o.profile}, model ${o.model})\n`);
        for (const [i, u] of urls.entries()) process.stdout.write(`  replica ${i}  ${u}\n`);
        process.stdout.write(
          `\ntry:\n  curl -s ${urls[0]}/v1/completions -H 'content-type: application/json' \\\n    -d '{"model":"${o.model}","prompt":"The capital of France is","max_tokens":10}'\n\n`,
        );
        process.stdout.write(`kvgate fleet ready: ${urls[0]}\n`);
      }
      await waitForSignal();
      await fleet.close();
    });
}
