import { Command } from 'commander';

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('The live fleet dashboard in the terminal (replicas, queues, KV, hit rate, latency, decisions and their scores), from a gateway\'s or EPP\'s /dashboard/events')
    .option('--url <url>', 'root URL of a kvgate gateway or EPP metrics port (e.g. http://127.0.0.1:9090); top adds /dashboard/events', 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key when the gateway requires one (default: the first key of $KVGATE_API_KEYS, as `kvgate serve` reads it, else $KVGATE_API_KEY)')
    .option('--once', 'print one frame and exit (the default when stdout is not a terminal)', false)
    .action(async (o) => {
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      const { parseBaseUrl } = await import('../base-url.js');
      // --url is the server's root and top appends /dashboard/events: a ?query or #fragment would
      // end up before that path ("…?x=1/dashboard/events"), as for every command that appends
      // paths (base-url.ts); the dashboard's own address (what a browser shows) would ask for
      // /dashboard/dashboard/events.
      const url = new URL(parseBaseUrl(String(o.url)));
      const dashboardPath = /\/dashboard(\/events|\/snapshot)?\/*$/.exec(url.pathname);
      if (dashboardPath) throw new KvgateError(ErrorCode.InvalidRequest, `--url "${o.url}" is the dashboard's address: top adds /dashboard/events itself, give the server's root ${url.origin}${url.pathname.slice(0, dashboardPath.index)}`, { param: 'url' });
      const { runTop } = await import('../../observability/top/run-top.js');
      if (o.apiKey !== undefined && String(o.apiKey).trim() === '') throw new KvgateError(ErrorCode.InvalidRequest, '--api-key is empty (an unset variable in --api-key "$KEY"?)', { param: 'api-key' });
      // The variable `kvgate serve` reads, so one environment serves both; KVGATE_API_KEY, which
      // top read first, still works.
      const fromEnv = (process.env.KVGATE_API_KEYS ?? '').split(',').map((s) => s.trim()).find(Boolean) ?? (process.env.KVGATE_API_KEY?.trim() || undefined);
      await runTop({ url: o.url, apiKey: o.apiKey ?? fromEnv, once: o.once });
    });
}
