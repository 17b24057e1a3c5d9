import { Command, Option } from 'commander';
import { DURATION_HELP, countOf, durationOption, hostArg, intArg, portArg, waitForSignal } from '../parse.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import {
  addFlowControlOptions,
  addKvEventOptions,
  addObjectiveOptions,
  addPoolOptions,
  addRequestLimitOptions,
  addRoutingOptions,
  addTimeoutOptions,
  addCorsOptions,
  resolveCors,
  checkReadableFiles,
  resolveFlowControl,
  resolveKvEvents,
  resolveObjectives,
  resolvePool,
  resolveRouting,
  resolveTimeouts,
} from '../options.js';
import { addUpstreamApiKeyOption, apiKeyArg, resolveUpstreamApiKey } from '../api-key-args.js';

/**
 * The keys in $KVGATE_API_KEYS (comma-separated). Set but empty is an error for the reason
 * apiKeyArg gives; unset means none.
 */
export function apiKeysFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const v = env.KVGATE_API_KEYS;
  if (v === undefined) return [];
  const keys = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (keys.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, 'KVGATE_API_KEYS is set but holds no key: give one, or unset it to serve without authentication', { param: 'KVGATE_API_KEYS' });
  return keys;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Run the OpenAI-compatible cache-aware gateway in front of vLLM (or compatible) endpoints')
    .addOption(new Option('--port <n>', 'listen port (0 = any free port)').argParser(portArg('--port')).default(8080))
    .addOption(new Option('--host <addr>', 'listen address: IPv4, IPv6 (::1 or [::1]; :: = every interface, IPv4 too) or a name').argParser(hostArg('--host')).default('127.0.0.1'));
  addPoolOptions(cmd);
  addRoutingOptions(cmd);
  addKvEventOptions(cmd);
  addObjectiveOptions(cmd);
  addRequestLimitOptions(cmd, '413');
  addFlowControlOptions(cmd);
  addTimeoutOptions(cmd);
  addCorsOptions(cmd);
  cmd.addHelpText('after', DURATION_HELP);
  cmd.addOption(new Option('--api-key <key>', 'require this bearer key (repeatable, comma-separated; also $KVGATE_API_KEYS, comma-separated); an empty key is an error').argParser(apiKeyArg));
  addUpstreamApiKeyOption(cmd, "every forwarded request, in place of the client's Authorization, and the /v1/models probes; without it the client's Authorization is forwarded unless --api-key is set");
  cmd
    .addOption(new Option('--max-attempts <n>', 'endpoints tried per request before failing').argParser(intArg('--max-attempts', 1)).default(3))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)'))
    .addOption(new Option('--tls-key <file>', 'private key of --tls-cert (PEM)'))
    .addOption(new Option('--tls-client-ca <file>', 'require client certificates signed by this CA (mTLS)'))
    .addOption(new Option('--upstream-ca <file>', 'CA bundle for HTTPS upstreams'))
    .addOption(new Option('--upstream-cert <file>', 'client certificate for upstream mTLS'))
    .addOption(new Option('--upstream-key <file>', 'client key for upstream mTLS'))
    .addOption(durationOption('--drain-settle', 'after SIGTERM, report not-ready this long before closing', 1000))
    .addOption(durationOption('--drain-timeout', 'longest wait for in-flight requests on shutdown', 30_000))
    .option('--no-access-log', 'do not log one JSON line per request (never includes prompt or completion text)')
    .action(async (o, command: Command) => {
      (await import('../../shared/v8-tuning.js')).tuneV8ForRequestPath();
      const { startGateway } = await import('../../gateway/server.js');
      const { createLogger } = await import('../../shared/logger.js');
      const envKeys = apiKeysFromEnv(); // before anything starts
      const objectives = await resolveObjectives(o);
      const routing = await resolveRouting(command, o);
      const upstreamApiKey = resolveUpstreamApiKey(o, process.env, routing.config);
      const pool = await resolvePool(o);
      const kv = await resolveKvEvents(o, routing.config);
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new KvgateError(ErrorCode.InvalidConfig, '--tls-cert and --tls-key go together');
      await checkReadableFiles({ '--tls-cert': o.tlsCert, '--tls-key': o.tlsKey, '--tls-client-ca': o.tlsClientCa, '--upstream-ca': o.upstreamCa, '--upstream-cert': o.upstreamCert, '--upstream-key': o.upstreamKey });
      if (o.tlsCert) {
        // A file that is not a PEM certificate/key pair: say which flags, not OpenSSL's "no start line".
        const { createSecureContext } = await import('node:tls');
        const { readFileSync } = await import('node:fs');
        try {
          createSecureContext({ cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey), ca: o.tlsClientCa ? readFileSync(o.tlsClientCa) : undefined });
        } catch (err) {
          throw new KvgateError(ErrorCode.InvalidConfig, `--tls-cert/--tls-key${o.tlsClientCa ? '/--tls-client-ca' : ''}: not a PEM certificate and its private key (${(err as Error).message})`, { param: '--tls-cert' });
        }
      }
      const logger = createLogger('gateway', { level: o.logLevel });
      const keys = [...(o.apiKey ?? []), ...envKeys];
      const gw = await startGateway({
        host: o.host,
        port: o.port,
        ...routing,
        ...objectives,
        ...pool,
        ...kv,
        ...resolveFlowControl(o),
        ...resolveTimeouts(o),
        ...resolveCors(o),
        apiKeys: keys,
        upstreamApiKey,
        maxBodyBytes: o.maxBodyBytes,
        maxAttempts: o.maxAttempts,
        accessLog: o.accessLog,
        tls: o.tlsCert ? { cert: o.tlsCert, key: o.tlsKey, clientCa: o.tlsClientCa } : undefined,
        upstreamTls: o.upstreamCa || o.upstreamCert ? { ca: o.upstreamCa, cert: o.upstreamCert, key: o.upstreamKey } : undefined,
        drainSettleMs: o.drainSettle,
        drainTimeoutMs: o.drainTimeout,
        logger,
      });
      // Signal handlers before the ready line: a supervisor may signal as soon as it reads it.
      const signal = waitForSignal();
      process.stdout.write(`kvgate serve listening on ${gw.url} (${gw.router.config.source}, ${countOf(gw.router.datastore.list().length, 'endpoint')})\n`);
      const sig = await signal;
      logger.info({ signal: sig }, 'draining');
      await gw.drain();
    });
}
