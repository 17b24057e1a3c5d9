import type { KubeConfig } from '@kubernetes/client-node';
import type { LoadedKubeConfig } from './kube-config.js';

/**
 * The @kubernetes/client-node KubeConfig a LoadedKubeConfig carries. `LoadedKubeConfig.kc` is typed
 * `object` because LoadedKubeConfig is part of kvgate's public types (`KubernetesEndpointSource`'s
 * options): naming client-node's types there would make every consumer's `tsc` read client-node's
 * declarations, which import `ws` and so need @types/ws. This module is imported by kvgate's code
 * only, never by a public declaration.
 */
export function kubeConfigOf(cfg: LoadedKubeConfig): KubeConfig {
  return cfg.kc as KubeConfig;
}
