export { startMetricsScraper, type MetricsScraper, type ScraperOptions } from './metrics-scraper.js';
export { parseEndpointMetrics } from './metrics-parser.js';
export { EndpointHealth } from './endpoint-health.js';
export { parseEndpoint, parseEndpointList } from './sources/static-endpoints.js';
export { readEndpointsFile, watchEndpointsFile } from './sources/endpoints-file.js';
export { KubernetesEndpointSource } from './sources/kubernetes-source.js';
export type { EndpointSource } from './sources/endpoint-source.js';
export { StaticEndpointSource } from './sources/static-source.js';
export { FileEndpointSource } from './sources/file-source.js';
