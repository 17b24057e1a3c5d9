/** Default bound on one Kubernetes list request. */
export const LIST_TIMEOUT_MS = 30_000;

/**
 * `request`, or a rejection after `ms` naming the API server (`server`, the kubeconfig's URL) —
 * the one thing an operator needs to tell a hung API server from a wrong address. The request
 * itself is left to finish or fail on its own (client-node's typed APIs take no abort signal).
 */
export function withinDeadline<T>(request: Promise<T>, ms: number, server: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    request,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the API server ${server} in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
