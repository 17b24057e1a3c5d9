import { Command, Option } from 'commander';
import { clientApiKeyArg } from '../api-key-args.js';
import { intArg, numberArg, durationOption, DURATION_HELP, refuseOverridden } from '../parse.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';
import { parseBaseUrl } from '../base-url.js';

/** Flags of the seed's test-cache-routing.sh that name a kvgate option differently. */
function alias(cmd: Command, o: Record<string, unknown>, seedFlag: string, kvgateFlag: string, key: string, aliasKey: string): void {
  if (o[aliasKey] === undefined) return;
  if (cmd.getOptionValueSource(key) === 'cli' && o[key] !== o[aliasKey]) throw new Error(`${seedFlag} is ${kvgateFlag} (the seed script's name): give one of them`);
  o[key] = o[aliasKey];
}

/** The endpoint checks' flags (commander attribute names): --operators-only runs none of them. */
const ENDPOINT_FLAGS = ['url', 'model', 'apiKey', 'prompt', 'cacheRequests', 'cacheSpeedupThreshold', 'parallel', 'concurrent', 'requests', 'maxTokens', 'timeout'];

/**
 * Flags that would be silently unused are errors naming them: the endpoint flags beside
 * --operators-only, --kubeconfig without it, and an empty --model (an unset variable in
 * `--model "$MODEL"`), which skipped every request check and still passed.
 */
function checkVerifyScope(o: Record<string, unknown>, given: (key: string) => boolean): void {
  refuseOverridden(given, [['operatorsOnly', ENDPOINT_FLAGS]]);
  if (!o.operatorsOnly && given('kubeconfig')) {
    throw new KvgateError(ErrorCode.InvalidConfig, '--kubeconfig applies to --operators-only (the endpoint checks reach --url over HTTP): give --operators-only, or leave --kubeconfig out', { param: 'kubeconfig' });
  }
  if (o.model !== undefined && String(o.model).trim() === '') {
    throw new KvgateError(ErrorCode.InvalidConfig, '--model is empty (an unset variable in --model "$MODEL"?): give a model name, or leave --model out to use the first of /v1/models', { param: 'model' });
  }
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Run the deployment verification table (health, models, completion, load distribution, cache routing, throughput) against any OpenAI endpoint; or, with --operators-only, check the operators the deployment needs')
    .option('--url <base>', 'base URL, e.g. http://127.0.0.1:8080 or http://GATEWAY/ns/svc (required unless --operators-only)')
    .option('--operators-only', "only check cert-manager, Istio, KServe and LWS through the Kubernetes API (the seed's verify-deployment.sh --operators-only)", false)
    .option('--kubeconfig <file>', 'kubeconfig for --operators-only (default: $KUBECONFIG, the in-cluster service account, ~/.kube/config)')
    .option('--model <name>', 'model to use (default: the first of /v1/models)')
    .addOption(new Option('--api-key <key>', 'bearer key for the endpoint; an empty key is an error').argParser(clientApiKeyArg))
    .option('--prompt <text>', "the Cache Routing prompt, sent --cache-requests times (default: a fresh ~3,000-token prompt); the seed script's --prompt")
    .option('--cache-requests <n>', 'how many times Cache Routing sends its prompt (the first is the cold one)', intArg('--cache-requests', 2), 5)
    .option('--cache-speedup-threshold <pct>', 'Cache Routing notes a warm-vs-cold speedup below this (% — information only, never the verdict)', numberArg('--cache-speedup-threshold', 0, 100), 30)
    .option('--parallel <n>', 'concurrent requests in the load-distribution and throughput tests', intArg('--parallel', 1), 10)
    .option('--concurrent <n>', "alias of --parallel (the seed script's name)", intArg('--concurrent', 1))
    .option('--requests <n>', 'requests in the throughput and load-distribution tests (the latter sends at least 6)', intArg('--requests', 1), 20)
    .option('--max-tokens <n>', 'max_tokens of test completions', intArg('--max-tokens', 1), 10)
    .addOption(durationOption('--timeout', 'per-request timeout (headers, then between body bytes); 0 = none', 60_000))
    .option('--json', 'print the rows as JSON', false)
    .addHelpText('after', DURATION_HELP)
    .action(async (o, cmd: Command) => {
      try {
        alias(cmd, o, '--concurrent', '--parallel', 'parallel', 'concurrent');
      } catch (err) {
        throw new KvgateError(ErrorCode.InvalidConfig, (err as Error).message);
      }
      checkVerifyScope(o, (k) => cmd.getOptionValueSource(k) === 'cli');
      let rows;
      let target: { url: string } | { operators: true };
      if (o.operatorsOnly) {
        const { verifyOperators } = await import('../../verify/operators.js');
        target = { operators: true };
        rows = await verifyOperators({ kubeconfig: o.kubeconfig });
      } else {
        if (!o.url) throw new KvgateError(ErrorCode.InvalidConfig, '--url is required (or --operators-only)');
        const url = parseBaseUrl(String(o.url));
        if (o.prompt !== undefined && String(o.prompt).trim() === '') throw new KvgateError(ErrorCode.InvalidConfig, '--prompt must not be empty');
        const { Verifier } = await import('../../verify/checks.js');
        target = { url };
        rows = await new Verifier({
          url,
          model: o.model,
          apiKey: o.apiKey,
          timeoutMs: o.timeout,
          cacheSpeedupThresholdPct: o.cacheSpeedupThreshold,
          cacheRequests: o.cacheRequests,
          prompt: o.prompt,
          parallel: o.parallel,
          requests: o.requests,
          maxTokens: o.maxTokens,
        }).run();
      }
      const { formatVerifyTable, verifyTitle } = await import('../../verify/report.js');
      const ok = rows.every((r) => r.status !== 'FAIL');
      if (o.json) process.stdout.write(`${JSON.stringify({ ...target, passed: ok, rows })}\n`);
      else process.stdout.write(formatVerifyTable(verifyTitle(target), rows, ok));
      if (!ok) process.exitCode = 1;
    });
}
