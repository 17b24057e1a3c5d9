import type { EndpointInfo } from '../../router/api.js';
import type { Logger } from '../../shared/logger.js';
import type { EndpointSource } from './endpoint-source.js';
import { readEndpointsFile, watchEndpointsFile } from './endpoints-file.js';

/**
 * An endpoints file (`--endpoints-file`), read at start (a bad file is a start-up error) and
 * watched; a bad edit keeps the last good set and is logged.
 */
export class FileEndpointSource implements EndpointSource {
  readonly synced = true;
  lastError?: string;
  private watcher?: { close(): void };
  constructor(private readonly path: string, private readonly logger: Logger) {}
  get description(): string {
    return `file ${this.path}`;
  }
  start(onChange: (endpoints: EndpointInfo[]) => void): void {
    onChange(readEndpointsFile(this.path));
    this.watcher = watchEndpointsFile(
      this.path,
      (list) => {
        this.lastError = undefined;
        onChange(list);
        this.logger.info({ endpoints: list.length }, 'endpoints file reloaded');
      },
      (err) => {
        this.lastError = err.message;
        this.logger.error({ err: err.message }, 'endpoints file rejected; keeping the previous endpoints');
      },
    );
  }
  async stop(): Promise<void> {
    this.watcher?.close();
  }
}
