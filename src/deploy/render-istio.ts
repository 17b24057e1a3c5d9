import { EPP_PORTS, MODEL_PORT, type K8sObject, type RenderContext, type RenderPart } from './render-options.js';

/** The InferencePool of the model servers, with kvgate's EPP as its endpoint picker. */
export const inferencePoolPart: RenderPart = (c, files) => {
  files.set('inferencepool.yaml', [
    {
      apiVersion: 'inference.networking.k8s.io/v1',
      kind: 'InferencePool',
      metadata: c.meta(c.poolName),
      spec: { selector: { matchLabels: c.modelLabels }, targetPorts: [{ number: MODEL_PORT }], endpointPickerRef: { group: '', kind: 'Service', name: c.epp, port: { number: EPP_PORTS.grpc }, failureMode: 'FailClose' } },
    },
  ]);
};

/** A Gateway of `--gateway-class` and the HTTPRoute sending everything to the InferencePool. */
export const gatewayPart: RenderPart = (c, files) => {
  const gw = `${c.o.name}-gateway`;
  files.set('gateway.yaml', [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: c.meta(gw), spec: { gatewayClassName: c.o.gatewayClassName, listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: c.meta(c.o.name),
      spec: {
        parentRefs: [{ name: gw }],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: c.poolName }], timeouts: { request: '300s' } }],
      },
    },
  ]);
};

/** Processing modes the EPP needs: bodies both ways, streamed in full duplex (GIE protocol; LDS test envoy.yaml). */
export const EXT_PROC_PROCESSING_MODE = {
  request_header_mode: 'SEND',
  response_header_mode: 'SEND',
  request_body_mode: 'FULL_DUPLEX_STREAMED',
  response_body_mode: 'FULL_DUPLEX_STREAMED',
  request_trailer_mode: 'SEND',
  response_trailer_mode: 'SEND',
};

const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';
const EXT_PROC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';

function extProcMatch() {
  return { context: 'GATEWAY', listener: { filterChain: { filter: { name: 'envoy.filters.network.http_connection_manager', subFilter: { name: EXT_PROC_FILTER } } } } };
}

/** The seed's "body forwarding" EnvoyFilter: the gateway's ext_proc filter streams bodies to the picker. */
function bodyForwarding(c: RenderContext, gatewayName: string, namespace: string): K8sObject {
  return {
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'EnvoyFilter',
    metadata: c.meta(`${c.o.name}-ext-proc-body-forwarding`, {}, namespace),
    spec: {
      workloadSelector: { labels: { 'gateway.networking.k8s.io/gateway-name': gatewayName } },
      configPatches: [{ applyTo: 'HTTP_FILTER', match: extProcMatch(), patch: { operation: 'MERGE', value: { name: EXT_PROC_FILTER, typed_config: { '@type': EXT_PROC_TYPE, failure_mode_allow: false, allow_mode_override: true, processing_mode: EXT_PROC_PROCESSING_MODE } } } }],
    },
  };
}

/**
 * Istio, without KServe: the EPP serves plain gRPC behind its sidecar, so the gateway reaches it
 * with Istio mTLS (DestinationRule ISTIO_MUTUAL); bodies are forwarded; with `--strict-mtls` the
 * namespace refuses plain text (PeerAuthentication STRICT) — the EPP's probe and metrics ports are
 * excluded from its sidecar so kubelet and Prometheus still reach them.
 */
export const istioPart: RenderPart = (c, files) => {
  files.set('istio.yaml', [
    { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: c.meta(c.epp), spec: { host: `${c.epp}.${c.ns}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } },
    bodyForwarding(c, `${c.o.name}-gateway`, c.ns),
  ]);
};

/** `--strict-mtls`: one namespace-wide PeerAuthentication in STRICT mode. */
export const peerAuthenticationPart: RenderPart = (c, files) => {
  if (!c.o.strictMtls) return;
  files.set('peer-authentication.yaml', [{ apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata: c.meta('default'), spec: { mtls: { mode: 'STRICT' } } }]);
};

function sds(name: string) {
  return { name, sds_config: { api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] }, resource_api_version: 'V3' } };
}

/** The KServe scheduler's Service (KServe names it NAME-epp-service). */
export function kserveEppService(c: RenderContext): string {
  return `${c.o.name}-epp-service.${c.ns}.svc.cluster.local`;
}

/**
 * The seed's three EnvoyFilters for KServe, in the gateway's namespace:
 * 1. EPP mTLS: the gateway's cluster for the scheduler gets Istio's mTLS transport socket
 *    (workload certificate and mesh root over SDS), replacing the plain TLS of KServe's
 *    DestinationRule that a sidecar-injected scheduler cannot accept;
 * 2. ext_proc cluster: the gateway's ext_proc filter calls the scheduler through that cluster;
 * 3. body forwarding: FULL_DUPLEX_STREAMED bodies to the scheduler.
 */
export function kserveEnvoyFilters(c: RenderContext): K8sObject[] {
  const gw = c.o.gatewayName ?? 'inference-gateway';
  const gwNs = c.o.gatewayNamespace ?? 'opendatahub';
  const svc = kserveEppService(c);
  const cluster = `outbound|${EPP_PORTS.grpc}||${svc}`;
  const selector = { labels: { 'gateway.networking.k8s.io/gateway-name': gw } };
  return [
    {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata: c.meta(`${c.o.name}-epp-mtls`, {}, gwNs),
      spec: {
        workloadSelector: selector,
        configPatches: [
          {
            applyTo: 'CLUSTER',
            match: { context: 'GATEWAY', cluster: { service: svc, portNumber: EPP_PORTS.grpc } },
            patch: {
              operation: 'MERGE',
              value: {
                transport_socket: {
                  name: 'envoy.transport_sockets.tls',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
                    sni: `outbound_.${EPP_PORTS.grpc}_._.${svc}`,
                    common_tls_context: { alpn_protocols: ['istio-peer-exchange', 'istio', 'h2'], tls_certificate_sds_secret_configs: [sds('default')], combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: sds('ROOTCA') } },
                  },
                },
              },
            },
          },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'EnvoyFilter',
      metadata: c.meta(`${c.o.name}-ext-proc`, {}, gwNs),
      spec: {
        workloadSelector: selector,
        configPatches: [
          {
            applyTo: 'HTTP_FILTER',
            match: extProcMatch(),
            patch: { operation: 'MERGE', value: { name: EXT_PROC_FILTER, typed_config: { '@type': EXT_PROC_TYPE, grpc_service: { envoy_grpc: { cluster_name: cluster, authority: `${svc}:${EPP_PORTS.grpc}` }, timeout: '10s' }, message_timeout: '1000s' } } },
          },
        ],
      },
    },
    bodyForwarding(c, gw, gwNs),
  ];
}
