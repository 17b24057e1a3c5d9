import { Command } from 'commander';

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('The live fleet dashboard in the terminal (replicas, queues, KV, hit rate, latency, decisions and their scores), from a gateway\'s or EPP\'s /dashboard/events')
    .option('--url <url>', 'kvgate gateway, or EPP metrics port (e.g. http://127.0.0.1:9090)', 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key when the gateway requires one (default: the first key of $KVGATE_API_KEYS, as `kvgate serve` reads it, else $KVGATE_API_KEY)')
    .option('--once', 'print one frame and exit (the default when stdout is not a terminal)', false)
    .action(async (o) => {
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      let url: URL;
      try {
        url = new URL(o.url);
      } catch {
        throw new KvgateError(ErrorCode.InvalidRequest, `--url "${o.url}" is not a URL (e.g. http://127.0.0.1:8080)`, { param: 'url' });
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KvgateError(ErrorCode.InvalidRequest, `--url must be http:// or https://, not ${url.protocol}`, { param: 'url' });
      const { runTop } = await import('../../observability/top/run-top.js');
      if (o.apiKey !== undefined && String(o.apiKey).trim() === '') throw new KvgateError(ErrorCode.InvalidRequest, '--api-key is empty (an unset variable in --api-key "$KEY"?)', { param: 'api-key' });
      // The variable `kvgate serve` reads, so one environment serves both; KVGATE_API_KEY, which
      // top read first, still works.
      const fromEnv = (process.env.KVGATE_API_KEYS ?? '').split(',').map((s) => s.trim()).find(Boolean) ?? (process.env.KVGATE_API_KEY?.trim() || undefined);
      await runTop({ url: o.url, apiKey: o.apiKey ?? fromEnv, once: o.once });
    });
}
