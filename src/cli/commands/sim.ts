import { Command, Option } from 'commander';
import { simKvEventTarget, LLMD_ZMQ_ENDPOINT } from '../sim-kv-events.js';
import { hostArg, intArg, kvBlocksArg, numberArg, portArg, seedArg, waitForSignal } from '../parse.js';
import { SEED_RANGE } from '../../shared/seed.js';
import { boolArg, goDurationArg, jsonArg, listValues, nameListValues, rangeArg, rawValues } from '../../sim/cli-args.js';
import { checkTokenizerSpec, profileArg } from '../engine-args.js';
import { listProfiles } from '../../engine/profiles.js';
import { apiKeyArg } from '../api-key-args.js';
import { logLevelOfVerbosity, verbosityOption } from '../klog-verbosity.js';

/** llm-d-inference-sim flags kvgate accepts without acting on them, and why (docs/sim.md lists them too). */
const ACCEPTED_NO_EFFECT: [flags: string, why: string][] = [
  ['--render-url <url>', 'kvgate tokenizes in process (--tokenizer); no render service is called'],
  ['--render-timeout <duration>', 'no render service is called'],
  ['--mm-render-timeout <duration>', 'no render service is called'],
  ['--dataset-path <file>', 'kvgate generates text itself (--mode); datasets are not read'],
  ['--dataset-url <url>', 'no network at run time; datasets are not read'],
  ['--dataset-in-memory [bool]', 'datasets are not read'],
  ['--dataset-table-name <name>', 'datasets are not read'],
  ['--max-tool-call-integer-param <n>', 'tool calls are not synthesized'],
  ['--min-tool-call-integer-param <n>', 'tool calls are not synthesized'],
  ['--max-tool-call-number-param <n>', 'tool calls are not synthesized'],
  ['--min-tool-call-number-param <n>', 'tool calls are not synthesized'],
  ['--max-tool-call-array-param-length <n>', 'tool calls are not synthesized'],
  ['--min-tool-call-array-param-length <n>', 'tool calls are not synthesized'],
  ['--tool-call-not-required-param-probability <pct>', 'tool calls are not synthesized'],
  ['--object-tool-call-not-required-field-probability <pct>', 'tool calls are not synthesized'],
  ['--tool-call-extra-call-probability <pct>', 'tool calls are not synthesized'],
  ['--skip-tool-validation [bool]', 'tool schemas are not validated (as vLLM)'],
  ['--mm-encoder-only [bool]', 'multimodal encoders are not simulated'],
  ['--no-mm-encoder-only', 'multimodal encoders are not simulated'],
  ['--omni [bool]', 'image output is not simulated'],
  ['--no-omni', 'image output is not simulated'],
  ['--image-emission-rate <pct>', 'image output is not simulated'],
  ['--time-to-generate-image <duration>', 'image output is not simulated'],
  ['--time-to-generate-image-std-dev <duration>', 'image output is not simulated'],
  ['--mm-processor-kwargs <json>', 'ignored by llm-d-inference-sim too'],
  ['--ec-transfer-config <json>', 'ignored by llm-d-inference-sim too'],
  ['--enforce-eager [bool]', 'ignored by llm-d-inference-sim too'],
  ['--no-enforce-eager', 'ignored by llm-d-inference-sim too'],
  ['--tensor-parallel-size <n>', 'one simulated engine per rank; use the profile for TP latency'],
  ['--enable-lora [bool]', 'vLLM flag; LoRA adapters are always available here'],
  ['--max-lora-rank <n>', 'vLLM flag; adapters have no weights here'],
  ['--enable-prompt-tokens-details [bool]', 'vLLM flag; usage always carries prompt_tokens_details.cached_tokens'],
  ['--vmodule <spec>', 'klog flag; kvgate logs with pino'],
  ['--add_dir_header [bool]', 'klog flag'],
  ['--alsologtostderr [bool]', 'klog flag'],
  ['--log_backtrace_at <file:line>', 'klog flag'],
  ['--log_dir <dir>', 'klog flag'],
  ['--log_file <file>', 'klog flag'],
  ['--log_file_max_size <mb>', 'klog flag'],
  ['--logtostderr [bool]', 'klog flag'],
  ['--one_output [bool]', 'klog flag'],
  ['--skip_headers [bool]', 'klog flag'],
  ['--skip_log_headers [bool]', 'klog flag'],
  ['--stderrthreshold <level>', 'klog flag'],
];

/** llm-d-inference-sim's default ZMQ endpoint (it dials it; so does kvgate for a non-wildcard host). */

export function registerSim(program: Command): void {
  const cmd = program
    .command('sim')
    .description('Run one vLLM-compatible simulated model server (OpenAI API, /metrics, KV events); takes vLLM\'s and llm-d-inference-sim\'s flags')
    .option('--config <file>', 'YAML file of these flags (llm-d-inference-sim keys); command-line flags win, then SIM_MODEL/PYTHONHASHSEED, then the file (default: none)')
    .option('--port <n>', 'HTTP port (0 = any free port); rank i of --data-parallel-size listens on port+i', portArg('--port'), 8000)
    .option('--host <addr>', 'listen address: IPv4, IPv6 (::1 or [::1]) or a name', hostArg('--host'), '127.0.0.1')
    .option('--model <name>', 'model name (default: $SIM_MODEL, else Qwen/Qwen2.5-3B-Instruct)')
    .option('--served-model-name <names...>', 'names clients may request (space- or comma-separated, repeatable) (default: --model)', nameListValues('--served-model-name'))
    .option('--profile <name>', `latency/engine profile: ${listProfiles().join(', ')} (docs/sim.md)`, profileArg(), 'qwen2.5-3b-tpu-v6e')
    .addOption(new Option('--mode <mode>', 'response text').choices(['random', 'echo']).default('random'))
    .option('--tokenizer <spec>', 'estimate | qwen | path to tokenizer.json', 'estimate')
    .option('--force-dummy-tokenizer [bool]', 'use the fast estimate tokenizer whatever --tokenizer says (default: false)', boolArg('--force-dummy-tokenizer'))
    .option('--max-model-len <n>', 'context length in tokens (default: the profile\'s, capped to what the KV cache holds); one the KV cache cannot hold stops the server at start, as vLLM', intArg('--max-model-len', 1))
    .option('--max-num-seqs <n>', 'max running sequences per step (default: profile)', intArg('--max-num-seqs', 1))
    .option('--max-num-batched-tokens <n>', 'token budget per step (default: profile)', intArg('--max-num-batched-tokens', 1))
    .option('--max-waiting-queue-length <n>', 'answer 429 once this many requests wait (default: no limit, as vLLM)', intArg('--max-waiting-queue-length', 0))
    .option('--block-size <n>', 'KV block size in tokens: 8, 16, 32, 64 or 128 (default: profile)', intArg('--block-size', 1))
    .option('--kv-cache-size <blocks>', 'KV cache capacity in blocks: at most 67108864 (2^26) (default: profile)', kvBlocksArg('--kv-cache-size'))
    .option('--enable-prefix-caching', 'accepted for vLLM compatibility (on by default)')
    .option('--no-enable-prefix-caching', 'disable prefix caching (as vLLM; default: on)')
    .option('--seed <n>', `random seed, ${SEED_RANGE}`, seedArg('--seed'), 0)
    .option('--lora-modules <modules...>', 'LoRA adapters: name=path (vLLM) or JSON {"name","path","base_model_name"} (space-separated, repeatable) (default: none)', rawValues)
    .option('--max-loras <n>', 'distinct LoRA adapters in a running batch', intArg('--max-loras', 1), 1)
    .option('--max-cpu-loras <n>', 'LoRA adapters kept in CPU memory, >= --max-loras (default: --max-loras)', intArg('--max-cpu-loras', 1))
    .option('--max-logprobs <n>', 'largest logprobs / top_logprobs / prompt_logprobs a request may ask for (vLLM)', intArg('--max-logprobs', 0), 20)
    // Latency (llm-d-inference-sim's names; durations like 250ms, 1.5s, or milliseconds)
    .option('--latency-calculator <name>', 'prefill formula: constant | per-token (default: llm-d-inference-sim\'s legacy precedence)')
    .option('--time-to-first-token <duration>', 'constant TTFT, ms or a duration such as 200ms (default: the profile\'s step model)', goDurationArg('--time-to-first-token'))
    .option('--time-to-first-token-std-dev <duration>', 'TTFT standard deviation, ms or a duration (<= 30 % of TTFT) (default: 0)', goDurationArg('--time-to-first-token-std-dev'))
    .option('--inter-token-latency <duration>', 'constant inter-token latency, ms or a duration such as 20ms (default: the profile\'s step model)', goDurationArg('--inter-token-latency'))
    .option('--inter-token-latency-std-dev <duration>', 'inter-token latency standard deviation, ms or a duration (<= 30 %) (default: 0)', goDurationArg('--inter-token-latency-std-dev'))
    .option('--prefill-overhead <duration>', 'per-token calculator: fixed prefill time, ms or a duration (default: the profile\'s step model)', goDurationArg('--prefill-overhead'))
    .option('--prefill-time-per-token <duration>', 'per-token calculator: time per uncached prompt token, ms or a duration such as 250us (default: the profile\'s step model)', goDurationArg('--prefill-time-per-token'))
    .option('--prefill-time-std-dev <duration>', 'per-token calculator: prefill time standard deviation, ms or a duration (default: 0)', goDurationArg('--prefill-time-std-dev'))
    .option('--kv-cache-transfer-latency <duration>', 'P/D: fixed time to pull a prompt\'s KV, do_remote_prefill; ms or a duration (default: 0)', goDurationArg('--kv-cache-transfer-latency'))
    .option('--kv-cache-transfer-latency-std-dev <duration>', 'P/D: its standard deviation, ms or a duration (<= 30 %) (default: 0)', goDurationArg('--kv-cache-transfer-latency-std-dev'))
    .option('--kv-cache-transfer-time-per-token <duration>', 'P/D: pull time per prompt token, ms or a duration such as 3us (default: 0)', goDurationArg('--kv-cache-transfer-time-per-token'))
    .option('--kv-cache-transfer-time-std-dev <duration>', 'P/D: standard deviation of the per-token pull time, ms or a duration (default: 0)', goDurationArg('--kv-cache-transfer-time-std-dev'))
    .option('--time-factor-under-load <x>', 'slow-down factor at --max-num-seqs running requests (>= 1)', numberArg('--time-factor-under-load', 1), 1)
    // KV events
    .option('--kv-events-endpoint <zmq>', 'publish KV events, e.g. tcp://*:5557 (binds every interface) or tcp://host:5557 (connects) (default: none, no KV events)')
    .option('--kv-events-topic <topic>', 'ZMQ topic; {host}, {port}, {model} are filled in (default: "", or kv@{host}:{port}@{model} with --enable-kvcache)')
    .addOption(new Option('--kv-events-format <fmt>', 'event encoding').choices(['array', 'map']).default('array'))
    .option('--kv-events-replay-endpoint <zmq>', 'ROUTER socket replaying buffered KV event batches (default: none)')
    .option('--kv-events-replay-queue-size <n>', 'batches kept for replay', intArg('--kv-events-replay-queue-size', 1), 10_000)
    .option('--kv-events-config <json>', 'vLLM\'s KV-events JSON: {"enable_kv_cache_events","endpoint","topic","replay_endpoint","buffer_steps"}; no endpoint = port 5557 on --host (default: none)', jsonArg('--kv-events-config'))
    .option('--enable-kvcache [bool]', 'llm-d-inference-sim: publish KV events to --zmq-endpoint (the cache itself is always simulated) (default: false)', boolArg('--enable-kvcache'))
    .option('--zmq-endpoint <zmq>', `llm-d-inference-sim: KV-event endpoint used with --enable-kvcache (default ${LLMD_ZMQ_ENDPOINT})`)
    .option('--event-batch-size <n>', 'at most this many events per published batch (default: one batch per engine step, as vLLM)', intArg('--event-batch-size', 1))
    .option('--use-vllm-map-event-format [bool]', 'same as --kv-events-format map (default: false)', boolArg('--use-vllm-map-event-format'))
    .option('--hash-seed <seed>', 'seed folded into block hashes (default: $PYTHONHASHSEED, else the model name)')
    .option('--global-cache-hit-threshold <x>', 'answer finish_reason cache_threshold below this prefix-cache hit rate, 0–1 (0 = off)', rangeArg('--global-cache-hit-threshold', 0, 1), 0)
    // Failures and lifecycle
    .option('--failure-injection-rate <pct>', 'percent of requests that fail', numberArg('--failure-injection-rate', 0, 100), 0)
    .option('--failure-types <types...>', 'rate_limit invalid_api_key context_length server_error invalid_request model_not_found (space- or comma-separated) (default: all of them)', listValues)
    .option('--startup-duration <duration>', 'answer 503 until this long after start (ms, or a duration such as 2s)', goDurationArg('--startup-duration'), 0)
    .option('--max-request-body-size-mb <mb>', 'request body limit in MiB', numberArg('--max-request-body-size-mb', 1, 512), 4)
    .option('--enable-sleep-mode [bool]', 'allow POST /sleep (also needs VLLM_SERVER_DEV_MODE=1, as vLLM) (default: false)', boolArg('--enable-sleep-mode'))
    .option('--no-enable-sleep-mode', 'disable sleep mode (the default)')
    .option('--enable-request-id-headers [bool]', 'echo X-Request-Id (or a new id) in responses (default: false)', boolArg('--enable-request-id-headers'))
    .option('--data-parallel-size <n>', 'run this many ranks in one process, on port+i with KV events on endpoint port+i', intArg('--data-parallel-size', 1), 1)
    .option('--data-parallel-rank <n>', 'rank of this single server (engine label, KV batches; KV endpoint offset by it, as vLLM) (default: 0)', intArg('--data-parallel-rank', 0))
    .option('--default-embedding-dimensions <n>', '/v1/embeddings vector size when the request gives no dimensions', intArg('--default-embedding-dimensions', 1), 384)
    .option('--fake-metrics <json>', 'report these metric values instead of the real ones (llm-d-inference-sim format) (default: none)', jsonArg('--fake-metrics'))
    .addOption(new Option('--fake-metrics-refresh-interval <duration>', 'how often generator fake metrics change (ms, or a duration such as 100ms)').argParser(goDurationArg('--fake-metrics-refresh-interval')).default(100, '100ms'))
    .option('--ssl-certfile <file>', 'serve HTTPS with this certificate (with --ssl-keyfile) (default: none, plain HTTP)')
    .option('--ssl-keyfile <file>', 'private key of --ssl-certfile (default: none)')
    .option('--self-signed-certs [bool]', 'serve HTTPS with a certificate made at start (default: false)', boolArg('--self-signed-certs'))
    .option('--no-strict-content-type', 'accept bodies whatever their Content-Type (default: strict, as vLLM: 400 unless application/json)')
    .option('--api-key <keys...>', "require one of these bearer keys on /v1, /v2, /inference and /cohere paths, as vLLM's --api-key (401 {\"error\":\"Unauthorized\"} otherwise; OPTIONS, /health, /metrics, /tokenize… stay open); space- or comma-separated, repeatable; default: $VLLM_API_KEY (one key, as vLLM), which keeps the key out of argv (any user can read argv with ps); an empty key is an error", apiKeyArg)
    .option('--log-http [bool]', 'log one line per HTTP request: method, path, status, ms (never bodies) (default: false)', boolArg('--log-http'))
    .addOption(verbosityOption('log verbosity as klog levels: 1 warn, 2 info (default), 4 debug, 5 trace'))
    .option('--legacy-metrics', 'also export the deprecated vllm:gpu_* metric names', false)
    .option('--json', 'print only one JSON line with the URL(s) when ready (nothing else on stdout: logs go to stderr)', false);
  for (const [flags, why] of ACCEPTED_NO_EFFECT) cmd.option(flags, `accepted for compatibility, no effect: ${why}`);

  cmd.action(async (o, self: Command) => {
    const { startSimRanks } = await import('../../sim/data-parallel.js');
    const { applySimConfigFile } = await import('../../sim/config-file.js');
    const { parseLoraModule } = await import('../../sim/lora.js');
    const { createLogger } = await import('../../shared/logger.js');
    if (o.config) applySimConfigFile(self, o.config);
    const env = process.env;
    const fromCli = (k: string) => self.getOptionValueSource(k) === 'cli';
    // llm-d-inference-sim's precedence: flag > SIM_MODEL / PYTHONHASHSEED > --config file > default.
    const model: string = (fromCli('model') ? o.model : env.SIM_MODEL || o.model) ?? 'Qwen/Qwen2.5-3B-Instruct';
    const hashSeed: string | undefined = fromCli('hashSeed') ? o.hashSeed : env.PYTHONHASHSEED || o.hashSeed;
    const level: number | undefined = o.v;
    // --json promises one line on stdout (a script reads it as JSON): logs go to stderr then, as with up.
    const logger = createLogger('sim', { stderr: o.json === true, level: level === undefined ? undefined : logLevelOfVerbosity(level) });

    const kv = simKvEventTarget({ ...o, kvEventsConfig: o.kvEventsConfig as Record<string, unknown> | undefined });
    const { endpoint: kvEventsEndpoint, topic: kvEventsTopic, replayEndpoint, replayBuffer, bindHttpHost: defaultEndpoint } = kv;
    if (!kvEventsEndpoint) {
      // Shaping flags without anything to publish to: say so rather than start silently without events.
      const set = (k: string) => (self.getOptionValueSource(k) ?? 'default') !== 'default';
      const shaping = ['kvEventsTopic', 'kvEventsFormat', 'kvEventsReplayEndpoint', 'kvEventsReplayQueueSize', 'eventBatchSize', 'useVllmMapEventFormat', 'zmqEndpoint'].filter(set);
      if (shaping.length > 0) {
        const flags = shaping.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
        logger.warn({ flags: shaping }, `${flags} given, but no KV events are published: add --kv-events-endpoint (or --enable-kvcache, or --kv-events-config with enable_kv_cache_events)`);
      }
    }
    // vLLM's --tokenizer takes a Hugging Face name that --force-dummy-tokenizer then ignores, so the
    // path is checked only when it is used (and, naming the flag, before anything starts).
    if (o.forceDummyTokenizer !== true) checkTokenizerSpec('--tokenizer', o.tokenizer);
    const sims = await startSimRanks(
      {
        host: o.host,
        port: o.port,
        model,
        servedModelNames: o.servedModelName ?? [],
        profile: o.profile,
        mode: o.mode,
        tokenizer: o.forceDummyTokenizer === true ? 'estimate' : o.tokenizer,
        maxModelLen: o.maxModelLen,
        maxNumSeqs: o.maxNumSeqs,
        maxNumBatchedTokens: o.maxNumBatchedTokens,
        maxWaitingQueueLength: o.maxWaitingQueueLength,
        blockSize: o.blockSize,
        kvCacheSize: o.kvCacheSize,
        enablePrefixCaching: o.enablePrefixCaching !== false,
        seed: o.seed,
        loraModules: (o.loraModules ?? []).map(parseLoraModule),
        maxLoras: o.maxLoras,
        maxCpuLoras: o.maxCpuLoras,
        maxLogprobs: o.maxLogprobs,
        latencyCalculator: o.latencyCalculator ?? '',
        timeToFirstToken: o.timeToFirstToken,
        timeToFirstTokenStdDev: o.timeToFirstTokenStdDev,
        interTokenLatency: o.interTokenLatency,
        interTokenLatencyStdDev: o.interTokenLatencyStdDev,
        prefillOverhead: o.prefillOverhead,
        prefillTimePerToken: o.prefillTimePerToken,
        prefillTimeStdDev: o.prefillTimeStdDev,
        kvCacheTransferLatency: o.kvCacheTransferLatency,
        kvCacheTransferLatencyStdDev: o.kvCacheTransferLatencyStdDev,
        kvCacheTransferTimePerToken: o.kvCacheTransferTimePerToken,
        kvCacheTransferTimeStdDev: o.kvCacheTransferTimeStdDev,
        timeFactorUnderLoad: o.timeFactorUnderLoad,
        kvEventsEndpoint,
        kvEventsTopic: kvEventsTopic ?? '',
        kvEventsFormat: o.useVllmMapEventFormat === true ? 'map' : o.kvEventsFormat,
        kvEventsReplayEndpoint: replayEndpoint,
        kvEventsBindHttpHost: { endpoint: defaultEndpoint },
        kvEventsReplayBufferSize: replayBuffer,
        kvEventsBatchSize: o.eventBatchSize,
        hashSeed,
        globalCacheHitThreshold: o.globalCacheHitThreshold,
        failureInjectionRate: o.failureInjectionRate,
        failureTypes: o.failureTypes ?? [],
        startupDurationMs: o.startupDuration,
        maxRequestBodyBytes: Math.round(o.maxRequestBodySizeMb * 1024 * 1024),
        legacyMetrics: o.legacyMetrics,
        enableSleepMode: o.enableSleepMode === true,
        vllmServerDevMode: env.VLLM_SERVER_DEV_MODE === '1',
        enableRequestIdHeaders: o.enableRequestIdHeaders === true,
        podName: env.POD_NAME || undefined,
        podNamespace: env.POD_NAMESPACE || undefined,
        podIp: env.POD_IP || undefined,
        sslCertFile: o.sslCertfile,
        sslKeyFile: o.sslKeyfile,
        selfSignedCerts: o.selfSignedCerts === true,
        fakeMetrics: o.fakeMetrics,
        fakeMetricsRefreshIntervalMs: o.fakeMetricsRefreshInterval,
        defaultEmbeddingDimensions: o.defaultEmbeddingDimensions,
        requireJsonContentType: o.strictContentType !== false,
        logHttp: o.logHttp === true,
        // vLLM's precedence: --api-key (the command line, else --config) over $VLLM_API_KEY; an empty variable means none, as vLLM.
        apiKeys: o.apiKey ?? (env.VLLM_API_KEY ? [env.VLLM_API_KEY] : []),
      },
      { dataParallelSize: o.dataParallelSize, dataParallelRank: o.dataParallelRank },
      { logger },
    );
    const first = sims[0];
    // Signal handlers before the ready line: a supervisor may signal as soon as it reads it.
    const signal = waitForSignal();
    if (o.json) process.stdout.write(`${JSON.stringify({ url: first.url, urls: sims.map((s) => s.url), model: first.options.model, profile: first.options.profile })}\n`);
    else for (const s of sims) process.stdout.write(`kvgate sim listening on ${s.url} (model ${s.options.model}, profile ${s.options.profile}${sims.length > 1 ? `, rank ${s.options.dataParallelRank}` : ''})\n`);
    const sig = await signal;
    logger.info({ signal: sig }, 'shutting down');
    await Promise.all(sims.map((s) => s.close()));
  });
}
