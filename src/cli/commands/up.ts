import { resolve as resolvePath } from 'node:path';
import { Command, Option } from 'commander';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { DURATION_HELP, countOf, hostArg, intArg, kvBlocksArg, portArg, replicasArg, seedArg, waitForSignal } from '../parse.js';
import { SEED_RANGE, refuseSeedSpan } from '../../shared/seed.js';
import { profileArg, tokenizerArg } from '../engine-args.js';
import { listProfiles } from '../../engine/profiles.js';
import { MAX_UP_REPLICAS } from '../../engine/limits.js';
import { hostUrl } from '../../shared/host-port.js';
import { addUpstreamApiKeyOption, resolveUpstreamApiKey } from '../api-key-args.js';
import { addCorsOptions, resolveCors, addFlowControlOptions, addObjectiveOptions, addProbeOptions, addRequestLimitOptions, addRoutingOptions, addTimeoutOptions, resolveFlowControl, resolveKvEvents, resolveObjectives, resolveRouting, resolveTimeouts } from '../options.js';

/** A run of ports one `kvgate up` flag claims, and how the message names it. */
interface PortRange {
  flag: string;
  lo: number;
  hi: number;
  /** The flag and what it holds, e.g. "--sim-base-port 8000 (replicas on 8000-8002)". */
  text: string;
}

const span = (lo: number, hi: number) => (lo === hi ? String(lo) : `${lo}-${hi}`);

/** The port flags of `kvgate up`, and whether --kv-events-base-port was given rather than defaulted. */
interface UpPortFlags {
  replicas: number;
  simBasePort: number;
  kvEventsBasePort: number;
  kvEventsBasePortGiven?: boolean;
}

/**
 * The fleet's first KV-events port: undefined = off (--kv-events-base-port 0), 0 = free ports,
 * else that port. The default (5557) stands beside fixed replica ports only: with
 * --sim-base-port 0 it turns into free ports too, so fleets started side by side on free ports
 * (tests, scripts) do not all claim 5557. A base given on the command line is always honoured.
 */
export function upKvEventsBase(o: UpPortFlags): number | undefined {
  if (!o.kvEventsBasePort) return undefined;
  return o.simBasePort || o.kvEventsBasePortGiven ? o.kvEventsBasePort : 0;
}

/**
 * Checks the ports `kvgate up` derives from its flags before anything starts: each range fits
 * under 65535 and no two overlap. Without it a range past 65535 failed on a port the user never
 * gave ("invalid --port: Too big", a replay port's "--kv-events-endpoint tcp://*:65536") and an
 * overlap looked like a port held by another program. The ranges: replicas on sim base..+n-1;
 * fixed KV-event ports (upKvEventsBase) on KV base..+n-1 and replays on KV base+n..+2n-1; the
 * gateway's --port. Port 0 = any free port, so it claims nothing.
 */
export function checkUpPorts(o: UpPortFlags & { port: number }): void {
  const n = o.replicas;
  const ranges: PortRange[] = [];
  if (o.simBasePort) {
    const hi = o.simBasePort + n - 1;
    if (hi > 65535) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--sim-base-port ${o.simBasePort}: ${countOf(n, 'replica')} (--replicas) need${n === 1 ? 's' : ''} ports ${span(o.simBasePort, hi)}, past 65535: give --sim-base-port ${65536 - n} or lower (0 = free ports)`, { param: 'sim-base-port' });
    }
    ranges.push({ flag: '--sim-base-port', lo: o.simBasePort, hi, text: `--sim-base-port ${o.simBasePort} (replicas on ${span(o.simBasePort, hi)})` });
  }
  const kv = upKvEventsBase(o);
  if (kv) {
    const hiKv = kv + 2 * n - 1;
    if (hiKv > 65535) {
      throw new KvgateError(
        ErrorCode.InvalidConfig,
        `--kv-events-base-port ${kv}: ${countOf(n, 'replica')} (--replicas) need${n === 1 ? 's' : ''} KV-event ports ${span(kv, kv + n - 1)} and replay ports ${span(kv + n, hiKv)}, past 65535: give --kv-events-base-port ${65536 - 2 * n} or lower (0 = off)`,
        { param: 'kv-events-base-port' },
      );
    }
    ranges.push({ flag: '--kv-events-base-port', lo: kv, hi: hiKv, text: `--kv-events-base-port ${kv} (KV events on ${span(kv, kv + n - 1)}, replays on ${span(kv + n, hiKv)})` });
  }
  if (o.port) ranges.push({ flag: '--port', lo: o.port, hi: o.port, text: `--port ${o.port} (the gateway)` });
  const overlaps: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const [a, b] = [ranges[i], ranges[j]];
      const lo = Math.max(a.lo, b.lo);
      const hi = Math.min(a.hi, b.hi);
      if (lo > hi) continue;
      overlaps.push(`${a.text} and ${b.text} share ${span(lo, hi)}`);
      flags.add(a.flag).add(b.flag);
    }
  }
  if (overlaps.length) {
    const named = [...flags];
    throw new KvgateError(ErrorCode.InvalidConfig, `kvgate up's own ports overlap: ${overlaps.join('; ')}: move ${named.slice(0, -1).join(', ')} and ${named.at(-1)} apart (--replicas ${n} sets the ranges' sizes)`, { param: named[0] });
  }
}

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('Start a local fleet: simulated vLLM replicas behind the cache-aware gateway, ready to curl')
    .addOption(new Option('--replicas <n>', `number of simulated replicas; at most ${MAX_UP_REPLICAS}`).argParser(replicasArg('--replicas', MAX_UP_REPLICAS, 'the largest fleet kvgate up starts in one process (use kvgate simulate for larger fleets)')).default(3))
    .addOption(new Option('--sim-base-port <port>', 'port of the first replica (+1 per replica; 0 = any free ports)').argParser(portArg('--sim-base-port')).default(8000))
    .addOption(new Option('--kv-events-base-port <port>', 'first KV-events ZMQ port: replica i publishes on base+i and replays on base+replicas+i, and the gateway subscribes to each (precise prefix routing); 0 = off; with --sim-base-port 0 and no --kv-events-base-port, free ports').argParser(portArg('--kv-events-base-port')).default(5557))
    .addOption(new Option('--kv-cache-size <blocks>', "each replica's KV cache capacity in blocks: at most 67108864 (2^26) (default: the profile's)").argParser(kvBlocksArg('--kv-cache-size')))
    .addOption(new Option('--block-size <tokens>', 'KV block size in tokens: 8, 16, 32, 64 or 128 (default: the profile\'s)').argParser(intArg('--block-size', 1)))
    .addOption(new Option('--max-num-seqs <n>', 'max running sequences per engine step of each replica, which reports it to the gateway\'s flow control (default: the profile\'s)').argParser(intArg('--max-num-seqs', 1)))
    .addOption(new Option('--max-num-batched-tokens <tokens>', 'token budget per engine step (default: the profile\'s)').argParser(intArg('--max-num-batched-tokens', 1)))
    .addOption(new Option('--tokenizer <spec>', 'tokenizer of the replicas and of the gateway\'s precise prefix matching: estimate, qwen, or a path to tokenizer.json').argParser(tokenizerArg('--tokenizer')).default('estimate'))
    .addOption(new Option('--profile <name>', `simulator profile: ${listProfiles().join(', ')}`).argParser(profileArg()).default('qwen2.5-3b-tpu-v6e'))
    .addOption(new Option('--model <name>', 'model name').default('Qwen/Qwen2.5-3B-Instruct'))
    // kvgate sim's (and vLLM's) --seed, per replica as `kvgate simulate` seeds its modelled ones.
    .addOption(new Option('--seed <n>', `random seed of the replicas (sampled tokens, latency noise): replica i runs with seed + i; ${SEED_RANGE}, and so must seed + replicas - 1 be`).argParser(seedArg('--seed')).default(0))
    .option('--no-enable-prefix-caching', 'run the replicas without prefix caching (to see what it is worth)')
    .addOption(new Option('--port <n>', 'gateway port (0 = any free port)').argParser(portArg('--port')).default(8080))
    .addOption(new Option('--host <addr>', "listen address of the gateway, the replicas and the replicas' KV-event sockets: IPv4, IPv6 (::1 or [::1]) or a name").argParser(hostArg('--host')).default('127.0.0.1'));
  addRoutingOptions(cmd);
  addObjectiveOptions(cmd);
  addFlowControlOptions(cmd, { maxNumSeqs: false }); // --max-num-seqs above sets the replicas'
  addTimeoutOptions(cmd);
  addCorsOptions(cmd);
  addProbeOptions(cmd);
  addRequestLimitOptions(cmd, '413');
  addUpstreamApiKeyOption(cmd, 'every forwarded request and the /v1/models probes; the simulated replicas are started requiring it (as vLLM --api-key), so the keyed path runs end to end; also upstreamApiKey in --config-file');
  cmd.addHelpText('after', DURATION_HELP);
  cmd
    .option('--access-log', 'log one JSON line per request (never includes prompt or completion text)', false)
    .option('--json', 'print only one JSON line when ready (nothing else on stdout): gateway_url, replicas, preset (null with --config-file), config_file (its absolute path, else null), profile, model, kv_events', false)
    .action(async (o, command: Command) => {
      (await import('../../shared/v8-tuning.js')).tuneV8ForRequestPath();
      const { startSimFleet } = await import('../../sim/fleet.js');
      const { startGateway } = await import('../../gateway/server.js');
      const { parseEndpoint } = await import('../../datalayer/sources/static-endpoints.js');
      const { createLogger, logLevelFromEnv } = await import('../../shared/logger.js');
      const logLevel: string = o.logLevel ?? logLevelFromEnv(); // a bad $KVGATE_LOG_LEVEL stops here, before any replica starts
      const ports: UpPortFlags = { ...o, kvEventsBasePortGiven: command.getOptionValueSource('kvEventsBasePort') !== 'default' };
      checkUpPorts({ ...ports, port: o.port });
      refuseSeedSpan(o.seed, o.replicas, '--replicas');
      const objectives = await resolveObjectives(o);
      const routing = await resolveRouting(command, o);
      const upstreamApiKey = resolveUpstreamApiKey(o, process.env, routing.config);
      const { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } = await import('../../datalayer/kv-events/labels.js');
      const kv = await resolveKvEvents({ tokenizer: o.tokenizer }, routing.config);
      // The replicas listen first on --host: an address this machine lacks, or a name that does not resolve, fails there (the sim names --host).
      const fleet = await startSimFleet({
        replicas: o.replicas,
        basePort: o.simBasePort,
        kvEventsBasePort: upKvEventsBase(ports),
        profile: o.profile,
        model: o.model,
        seed: o.seed,
        host: o.host,
        tokenizer: o.tokenizer,
        kvCacheSize: o.kvCacheSize,
        blockSize: o.blockSize,
        maxNumSeqs: o.maxNumSeqs,
        maxNumBatchedTokens: o.maxNumBatchedTokens,
        enablePrefixCaching: o.enablePrefixCaching !== false,
        // The replicas take any body the gateway lets through (the sim's own default is 4 MiB, as
        // llm-d-inference-sim's; vLLM sets none), or a 4–16 MiB prompt would be a replica's 413.
        maxRequestBodyBytes: o.maxBodyBytes,
        apiKeys: upstreamApiKey === undefined ? [] : [upstreamApiKey],
      });
      // Each replica's KV-event ports travel with its endpoint, as an endpoints file's kvEventsPort would.
      const endpoints = fleet.replicas.map((r, i) => {
        const ports = fleet.kvEvents?.[i];
        return parseEndpoint(r.url, ports ? { [KV_EVENTS_PORT_LABEL]: String(ports.port), [KV_EVENTS_REPLAY_PORT_LABEL]: String(ports.replayPort) } : {});
      });
      let gw;
      try {
        gw = await startGateway({
          host: o.host,
          port: o.port,
          ...routing,
          ...objectives,
          ...resolveFlowControl(o),
          ...resolveTimeouts(o),
          ...resolveCors(o),
          endpoints,
          tokenizer: kv.tokenizer,
          metricsIntervalMs: o.metricsInterval,
          healthIntervalMs: o.healthInterval,
          maxBodyBytes: o.maxBodyBytes,
          upstreamApiKey,
          accessLog: o.accessLog,
          // Without --log-level, KVGATE_LOG_LEVEL (the benches' quiet switch) still applies.
          logger: createLogger('gateway', { stderr: true, level: logLevel }),
          drainSettleMs: 0,
          drainTimeoutMs: 5000,
        });
      } catch (err) {
        await fleet.close();
        throw err;
      }
      const urls = fleet.replicas.map((r) => r.url);
      // Signal handlers before the ready line: a supervisor may signal as soon as it reads it.
      const signal = waitForSignal();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ gateway_url: gw.url, replicas: urls, preset: o.configFile ? null : o.preset, config_file: o.configFile ? resolvePath(o.configFile) : null, profile: o.profile, model: o.model, kv_events: fleet.kvEvents ?? null })}\n`);
      } else {
        const rows = [['role', 'url'], ['gateway', gw.url], ...urls.map((u, i) => [`replica ${i}`, fleet.kvEvents ? `${u}  (KV events ${hostUrl('tcp', o.host, fleet.kvEvents[i].port)}, replay ${fleet.kvEvents[i].replayPort})` : u])];
        const w = Math.max(...rows.map((r) => r[0].length));
        const keyed = upstreamApiKey === undefined ? '' : '; the replicas require the upstream API key, the gateway does not';
        process.stdout.write(`kvgate fleet — ${countOf(urls.length, 'simulated replica')} (profile ${o.profile}, model ${o.model}), routing ${routing.config.source}${keyed}\n\n`);
        for (const r of rows) process.stdout.write(`  ${r[0].padEnd(w)}  ${r[1]}\n`);
        process.stdout.write(
          `\ntry:\n  curl -s ${gw.url}/v1/completions -H 'content-type: application/json' \\\n    -d '{"model":"${o.model}","prompt":"The capital of France is","max_tokens":10}'\n\nCtrl-C stops everything.\n`,
        );
        process.stdout.write(`kvgate fleet ready: ${gw.url}\n`);
      }
      await signal;
      await gw.drain();
      await fleet.close();
    });
}
