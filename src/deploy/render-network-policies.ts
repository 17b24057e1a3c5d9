import { EPP_PORTS, KV_EVENTS_PORT, MODEL_PORT, type K8sObject, type RenderPart } from './render-options.js';

const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: 'TCP', port }));
const DNS = [{ protocol: 'UDP', port: 53 }, ...tcp(53)];

/**
 * The seed's four NetworkPolicies (step 7), for this deployment's labels: the gateway reaches the
 * EPP (ext_proc, health, metrics) and the EPP reaches the model servers (HTTP and KV events), the
 * API server and DNS; the gateway reaches the model servers; the model servers reach DNS and HTTPS
 * (model download); every pod reaches istiod. Policies add up: each pod may do the union.
 */
export const networkPoliciesPart: RenderPart = (c, files) => {
  if (c.o.networkPolicies === false) return;
  const netpol = (name: string, podSelector: Record<string, string>, spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: c.meta(name), spec: { podSelector: { matchLabels: podSelector }, ...spec } });
  files.set('networkpolicies.yaml', [
    netpol(`allow-gateway-to-epp-${c.o.name}`, c.eppLabels, {
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: tcp(EPP_PORTS.grpc, EPP_PORTS.health, EPP_PORTS.metrics) }],
      egress: [{ to: [{ podSelector: { matchLabels: c.modelLabels } }], ports: tcp(MODEL_PORT, KV_EVENTS_PORT) }, { ports: tcp(443, 6443) }, { ports: DNS }],
    }),
    netpol(`allow-gateway-to-vllm-${c.o.name}`, c.modelLabels, {
      policyTypes: ['Ingress'],
      ingress: [{ ports: tcp(MODEL_PORT) }, { from: [{ podSelector: { matchLabels: c.eppLabels } }], ports: tcp(KV_EVENTS_PORT) }],
    }),
    netpol(`allow-vllm-egress-${c.o.name}`, c.modelLabels, { policyTypes: ['Egress'], egress: [{ ports: [...DNS, ...tcp(443)] }] }),
    netpol(`allow-istio-control-plane-${c.o.name}`, {}, { policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } } }], ports: tcp(15012, 15017) }] }),
  ]);
};
