import type { EndpointInfo } from '../../router/api.js';
import type { EndpointSource } from './endpoint-source.js';

/** A fixed endpoint list (`--endpoints`, `kvgate up`): synced from the start. */
export class StaticEndpointSource implements EndpointSource {
  readonly description = 'static';
  readonly synced = true;
  constructor(private readonly endpoints: EndpointInfo[]) {}
  start(onChange: (endpoints: EndpointInfo[]) => void): void {
    onChange(this.endpoints);
  }
  async stop(): Promise<void> {}
}
