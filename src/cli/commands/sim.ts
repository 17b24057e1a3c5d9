import { Command, Option } from 'commander';
import { intArg, numberArg, durationArg, listArg, waitForSignal } from '../parse.js';

export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('Run one vLLM-compatible simulated model server (OpenAI API, /metrics, KV events)')
    .option('--port <n>', 'HTTP port (0 = any free port)', intArg('--port'), 8000)
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--model <name>', 'model name', 'Qwen/Qwen2.5-3B-Instruct')
    .option('--served-model-name <names>', 'names clients may request (repeatable or comma list)', listArg)
    .option('--profile <name>', 'latency/engine profile (see docs/profiles.md)', 'qwen2.5-3b-tpu-v6e')
    .addOption(new Option('--mode <mode>', 'response text').choices(['random', 'echo']).default('random'))
    .option('--tokenizer <spec>', 'estimate | qwen | path to tokenizer.json', 'estimate')
    .option('--max-model-len <n>', 'context length (default: profile)', intArg('--max-model-len', 1))
    .option('--max-num-seqs <n>', 'max running sequences per step (default: profile)', intArg('--max-num-seqs', 1))
    .option('--max-num-batched-tokens <n>', 'token budget per step (default: profile)', intArg('--max-num-batched-tokens', 1))
    .option('--block-size <n>', 'KV block size in tokens', intArg('--block-size', 1))
    .option('--kv-cache-size <blocks>', 'KV cache capacity in blocks (default: profile)', intArg('--kv-cache-size', 1))
    .option('--enable-prefix-caching', 'accepted for vLLM compatibility (on by default)')
    .option('--no-enable-prefix-caching', 'disable prefix caching')
    .option('--time-to-first-token <ms>', 'constant TTFT override (ms or e.g. 200ms)', durationArg('--time-to-first-token'))
    .option('--inter-token-latency <ms>', 'constant inter-token latency override', durationArg('--inter-token-latency'))
    .option('--seed <n>', 'random seed', intArg('--seed'), 0)
    .option('--kv-events-endpoint <zmq>', 'publish KV events, e.g. tcp://*:5557 (binds) or tcp://host:5557 (connects)')
    .option('--kv-events-topic <topic>', 'ZMQ topic of KV events', '')
    .addOption(new Option('--kv-events-format <fmt>', 'event encoding').choices(['array', 'map']).default('array'))
    .option('--kv-events-replay-endpoint <zmq>', 'ROUTER socket replaying buffered KV event batches')
    .option('--failure-injection-rate <pct>', 'percent of requests that fail', numberArg('--failure-injection-rate', 0, 100), 0)
    .option('--failure-types <types>', 'rate_limit,invalid_api_key,context_length,server_error,invalid_request,model_not_found', listArg)
    .option('--startup-duration <d>', 'answer 503 until this long after start (e.g. 2s)', durationArg('--startup-duration'), 0)
    .option('--max-request-body-size-mb <mb>', 'request body limit', numberArg('--max-request-body-size-mb', 1, 512), 4)
    .option('--legacy-metrics', 'also export the deprecated vllm:gpu_* metric names', false)
    .option('--json', 'print one JSON line with the URL when ready', false)
    .action(async (o) => {
      const { startSimServer } = await import('../../sim/server.js');
      const { createLogger } = await import('../../shared/logger.js');
      const logger = createLogger('sim');
      const sim = await startSimServer(
        {
          host: o.host,
          port: o.port,
          model: o.model,
          servedModelNames: o.servedModelName ?? [],
          profile: o.profile,
          mode: o.mode,
          tokenizer: o.tokenizer,
          maxModelLen: o.maxModelLen,
          maxNumSeqs: o.maxNumSeqs,
          maxNumBatchedTokens: o.maxNumBatchedTokens,
          blockSize: o.blockSize,
          kvCacheSize: o.kvCacheSize,
          enablePrefixCaching: o.enablePrefixCaching !== false,
          timeToFirstToken: o.timeToFirstToken,
          interTokenLatency: o.interTokenLatency,
          seed: o.seed,
          kvEventsEndpoint: o.kvEventsEndpoint,
          kvEventsTopic: o.kvEventsTopic,
          kvEventsFormat: o.kvEventsFormat,
          kvEventsReplayEndpoint: o.kvEventsReplayEndpoint,
          failureInjectionRate: o.failureInjectionRate,
          failureTypes: o.failureTypes ?? [],
          startupDurationMs: o.startupDuration,
          maxRequestBodyBytes: Math.round(o.maxRequestBodySizeMb * 1024 * 1024),
          legacyMetrics: o.legacyMetrics,
        },
        { logger },
      );
      if (o.json) process.stdout.write(`${JSON.stringify({ url: sim.url, model: sim.options.model, profile: sim.options.profile })}\n`);
      else process.stdout.write(`kvgate sim listening on ${sim.url} (model ${sim.options.model}, profile ${sim.options.profile})\n`);
      const sig = await waitForSignal();
      logger.info({ signal: sig }, 'shutting down');
      await sim.close();
    });
}
