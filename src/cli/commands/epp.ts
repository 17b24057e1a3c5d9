import { Command, Option } from 'commander';
import { DURATION_HELP, countOf, hostArg, portArg, waitForSignal } from '../parse.js';
import { formatHostPort } from '../../shared/host-port.js';
import { addUpstreamApiKeyOption, resolveUpstreamApiKey } from '../api-key-args.js';
import { KLOG_MAPPING_HELP, logLevelOfVerbosity, verbosityOption } from '../klog-verbosity.js';
import { addFlowControlOptions, checkReadableFiles, addKvEventOptions, addObjectiveOptions, addPoolOptions, addRequestLimitOptions, addRoutingOptions, resolveFlowControl, resolveKvEvents, resolveObjectives, resolvePool, resolveRouting } from '../options.js';

/**
 * A boolean flag as the GIE EPP's Go flags read one (strconv.ParseBool: 1, t, T, TRUE, true, True
 * and 0, f, F, FALSE, false, False; a bare `--secure-serving` is true), so a drop-in's manifest
 * that says `--secure-serving=False` starts; only "true"/"1" and "false"/"0" were taken.
 */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);
function bool(name: string) {
  return (v: string): boolean => {
    if (GO_TRUE.has(v)) return true;
    if (GO_FALSE.has(v)) return false;
    throw new Error(`${name} must be true or false (got "${v}")`);
  };
}

export function registerEpp(program: Command): void {
  const cmd = program
    .command('epp')
    .description('Run the Envoy ext_proc endpoint picker (drop-in for the GIE / llm-d EPP behind Envoy or Istio)')
    .addOption(new Option('--grpc-port <n>', 'ext_proc gRPC port').argParser(portArg('--grpc-port')).default(9002))
    .addOption(new Option('--grpc-health-port <n>', 'gRPC health port (liveness, readiness, ext_proc)').argParser(portArg('--grpc-health-port')).default(9003))
    .addOption(new Option('--metrics-port <n>', 'HTTP port of /metrics, /health and /ready').argParser(portArg('--metrics-port')).default(9090))
    .addOption(new Option('--host <addr>', 'listen address of ext_proc, health and metrics: IPv4, IPv6 (::1 or [::1]) or a name (default: every interface, IPv6 and IPv4 — ::, or 0.0.0.0 on a machine without IPv6)').argParser(hostArg('--host')))
    .addOption(new Option('--secure-serving [bool]', 'TLS on the ext_proc port (self-signed unless --cert-path); true or false as Go reads them (1, t, TRUE, …), bare = true').argParser(bool('--secure-serving')).default(true))
    .addOption(new Option('--cert-path <dir>', 'directory with tls.crt and tls.key'));
  addPoolOptions(cmd);
  addRoutingOptions(cmd);
  // GIE's EPP flags (cmd/epp/runner): the EndpointPickerConfig given inline, and klog's verbosity.
  cmd
    .addOption(new Option('--config-text <yaml>', 'EndpointPickerConfig YAML given inline, instead of --config-file or --preset (as the GIE EPP\'s --config-text; empty = not given)'))
    .addOption(verbosityOption(`log verbosity as the GIE EPP's klog -v (its default 2): ${KLOG_MAPPING_HELP}; --log-level wins over it`));
  addKvEventOptions(cmd);
  addObjectiveOptions(cmd);
  addRequestLimitOptions(cmd, 'ImmediateResponse 413');
  addFlowControlOptions(cmd);
  addUpstreamApiKeyOption(cmd, 'the /v1/models probes (requests to the model servers go through Envoy, which must add the key itself)');
  cmd.addHelpText('after', DURATION_HELP);
  cmd.option('--access-log', 'log one JSON line per request (never includes prompt or completion text)', false).action(async (o, command: Command) => {
      (await import('../../shared/v8-tuning.js')).tuneV8ForRequestPath();
    const { startEppServer } = await import('../../extproc/server.js');
    const { certificateFromDir } = await import('../../extproc/self-signed.js');
    const { createLogger } = await import('../../shared/logger.js');
    for (const f of o.certPath ? ['tls.crt', 'tls.key'] : []) await checkReadableFiles({ '--cert-path': `${o.certPath}/${f}` });
    const objectives = await resolveObjectives(o);
    const routing = await resolveRouting(command, o);
    const upstreamApiKey = resolveUpstreamApiKey(o, process.env, routing.config);
    const pool = await resolvePool(o);
    const kv = await resolveKvEvents(o, routing.config);
    // As the GIE EPP's -v gives way to an explicit --zap-log-level, -v gives way to --log-level.
    const logger = createLogger('epp', { level: o.logLevel ?? (o.v === undefined ? undefined : logLevelOfVerbosity(o.v as number)) });
    // grpc-js writes its own errors to the console ("E No address added out of total 1 resolved" before
    // kvgate's "--grpc-port: … in use"); they go to kvgate's logger instead, bind failures at debug
    // since kvgate reports them itself with the flag's name.
    const grpc = await import('@grpc/grpc-js');
    const fromGrpc = (level: 'debug' | 'info' | 'warn') => (message?: unknown, ...rest: unknown[]) => {
      const text = [message, ...rest].map(String).join(' ');
      logger[/No address added|bind|EADDRINUSE/i.test(text) ? 'debug' : level]({ grpc: text }, 'grpc-js');
    };
    grpc.setLogger({ error: fromGrpc('warn'), info: fromGrpc('info'), debug: fromGrpc('debug') });
    // With an InferencePool, its InferenceObjectives (CRs) feed the objective → priority map too,
    // live; --objective / --objectives-file entries win on a shared name.
    let objectiveWatcher: import('../../datalayer/sources/inference-objectives.js').InferenceObjectiveWatcher | undefined;
    if (pool.kubernetes) {
      const { InferenceObjectiveWatcher } = await import('../../datalayer/sources/inference-objectives.js');
      objectiveWatcher = new InferenceObjectiveWatcher({ ...pool.kubernetes, base: objectives.objectives, logger });
      objectiveWatcher.start();
      objectives.objectives = objectiveWatcher.objectives;
      if (!objectives.trustRoutingHeaders) logger.warn('InferenceObjectives are watched, but x-gateway-inference-objective is ignored without --trust-routing-headers');
    }
    const epp = await startEppServer({
      host: o.host,
      grpcPort: o.grpcPort,
      grpcHealthPort: o.grpcHealthPort,
      metricsPort: o.metricsPort,
      ...routing,
      ...objectives,
      ...pool,
      ...kv,
      ...resolveFlowControl(o),
      secureServing: o.secureServing,
      tls: o.certPath ? certificateFromDir(o.certPath) : undefined,
      maxBodyBytes: o.maxBodyBytes,
      accessLog: o.accessLog,
      upstreamApiKey,
      metricSources: objectiveWatcher ? [objectiveWatcher] : [],
      logger,
    }).catch(async (err: unknown) => {
      await objectiveWatcher?.stop();
      throw err;
    });
    // Signal handlers before the ready line: a supervisor may signal as soon as it reads it (as
    // PID 1 in a container, a signal that comes before its handler is dropped).
    const signal = waitForSignal();
    process.stdout.write(`kvgate epp ready: ext_proc ${formatHostPort(epp.host, epp.grpcPort)} (${o.secureServing ? 'TLS' : 'plaintext'}), health ${epp.grpcHealthPort}, metrics ${epp.metricsPort}, ${countOf(epp.router.datastore.list().length, 'endpoint')}\n`);
    await signal;
    await objectiveWatcher?.stop();
    await epp.close();
  });
}
