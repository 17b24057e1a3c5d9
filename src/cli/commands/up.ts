import { Command } from 'commander';
import { intArg, listArg, waitForSignal } from '../parse.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('Start a local fleet: simulated vLLM replicas behind the cache-aware gateway, ready to curl')
    .option('--replicas <n>', 'number of simulated replicas', intArg('--replicas', 1), 3)
    .option('--sim-base-port <port>', 'port of the first replica (+1 per replica; 0 = any free ports)', intArg('--sim-base-port'), 8000)
    .option('--kv-events-base-port <port>', 'first KV-events ZMQ port (+1 per replica; 0 = off)', intArg('--kv-events-base-port'), 5557)
    .option('--profile <name>', 'simulator profile', 'qwen2.5-3b-tpu-v6e')
    .option('--model <name>', 'model name', 'Qwen/Qwen2.5-3B-Instruct')
    .option('--no-enable-prefix-caching', 'run the replicas without prefix caching (to see what it is worth)')
    .option('--port <n>', 'gateway port (0 = any free port)', intArg('--port'), 8080)
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--preset <name>', 'routing preset (kvgate config presets)', 'kvgate')
    .option('--config-file <file>', 'EndpointPickerConfig YAML (instead of --preset)')
    .option('--debug-scores', 'add per-endpoint scores to responses', false)
    .option('--trust-routing-headers', 'honour client priority / objective headers', false)
    .option('--objective <name=priority>', 'an InferenceObjective for x-gateway-inference-objective (repeatable; needs --trust-routing-headers)', listArg)
    .option('--objectives-file <file>', 'InferenceObjective manifests (YAML) naming priorities')
    .option('--access-log', 'log one JSON line per request', false)
    .option('--json', 'print one JSON line with the URLs when ready', false)
    .action(async (o) => {
      const { startSimFleet } = await import('../../sim/fleet.js');
      const { startGateway } = await import('../../gateway/server.js');
      const { loadConfig } = await import('../../router/index.js');
      const { parseEndpoint } = await import('../../datalayer/sources/static-endpoints.js');
      const { createLogger } = await import('../../shared/logger.js');
      const { loadObjectives } = await import('../../router/objectives.js');
      const objectives = loadObjectives({ file: o.objectivesFile, args: o.objective, trustRoutingHeaders: o.trustRoutingHeaders });
      const config = loadConfig(o.configFile ? { file: o.configFile } : { preset: o.preset });
      const fleet = await startSimFleet({
        replicas: o.replicas,
        basePort: o.simBasePort,
        kvEventsBasePort: o.kvEventsBasePort && o.simBasePort ? o.kvEventsBasePort : undefined,
        profile: o.profile,
        model: o.model,
        host: o.host,
        enablePrefixCaching: o.enablePrefixCaching !== false,
      });
      let gw;
      try {
        gw = await startGateway({
          host: o.host,
          port: o.port,
          config,
          endpoints: fleet.replicas.map((r) => parseEndpoint(r.url)),
          debugScores: o.debugScores,
          trustRoutingHeaders: o.trustRoutingHeaders,
          objectives,
          accessLog: o.accessLog,
          logger: createLogger('gateway'),
          drainSettleMs: 0,
          drainTimeoutMs: 5000,
        });
      } catch (err) {
        await fleet.close();
        throw err;
      }
      const urls = fleet.replicas.map((r) => r.url);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ gateway_url: gw.url, replicas: urls, preset: o.configFile ? null : o.preset, profile: o.profile, model: o.model })}\n`);
      } else {
        const rows = [['role', 'url'], ['gateway', gw.url], ...urls.map((u, i) => [`replica ${i}`, u])];
        const w = Math.max(...rows.map((r) => r[0].length));
        process.stdout.write(`kvgate fleet — ${urls.length} simulated replicas (profile ${o.profile}, model ${o.model}), routing ${config.source}\n\n`);
        for (const r of rows) process.stdout.write(`  ${r[0].padEnd(w)}  ${r[1]}\n`);
        process.stdout.write(
          `\ntry:\n  curl -s ${gw.url}/v1/completions -H 'content-type: application/json' \\\n    -d '{"model":"${o.model}","prompt":"The capital of France is","max_tokens":10}'\n\nCtrl-C stops everything.\n`,
        );
      }
      process.stdout.write(`kvgate fleet ready: ${gw.url}\n`);
      await waitForSignal();
      await gw.drain();
      await fleet.close();
    });
}
