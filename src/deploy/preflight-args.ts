import { KvgateError, ErrorCode } from '../shared/errors.js';

/** The values of `kvgate preflight`'s flags this module checks. */
export interface PreflightArgs {
  namespace: string;
  secrets: readonly string[];
  zone?: string;
  project?: string;
  /** The accelerator family chosen (--tpu, --gpu, --accelerator), if any. */
  accelerator?: string;
  /** Flags given on the command line (commander's option value source 'cli'), by attribute name. */
  given: (key: string) => boolean;
}

/** apimachinery's IsDNS1123Label: what a namespace name must be (≤ 63 characters). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** apimachinery's IsDNS1123Subdomain: what a Secret name must be (≤ 253 characters). */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A Compute Engine zone: region (letters, a dash, letters and digits) and a one-letter suffix, e.g. europe-west4-a. */
const GCP_ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
/**
 * The characters a Google Cloud project id can have: lower-case letters, digits and '-', plus '.'
 * and ':' in legacy domain-scoped ids (`example.com:my-project`). The length rules (6–30) are
 * left to gcloud, whose answer names the project: this only stops an empty id (an unset
 * variable) or one no project can have (spaces, capitals) before any gcloud call.
 */
const GCP_PROJECT = /^[a-z0-9][-a-z0-9.:]*$/;

const bad = (message: string, param: string) => new KvgateError(ErrorCode.InvalidConfig, message, { param });

/**
 * Refuses preflight flags that could only check the wrong thing: a namespace or secret name the
 * API server would never hold (an empty `--namespace` printed "namespace  sidecar injection"),
 * a zone or project gcloud cannot have (an empty one, from an unset variable), and `--zone`,
 * `--project` or `--nodes` without an accelerator, where no Google Cloud check runs to use them.
 */
export function checkPreflightArgs(a: PreflightArgs): void {
  if (!DNS1123_LABEL.test(a.namespace) || a.namespace.length > 63) {
    throw bad(`--namespace "${a.namespace}" is not a Kubernetes namespace (a DNS-1123 label: lower-case letters, digits, '-'; ≤ 63 characters)`, '--namespace');
  }
  for (const s of a.secrets) {
    if (!DNS1123_SUBDOMAIN.test(s) || s.length > 253) {
      throw bad(`--secret "${s}" is not a Kubernetes Secret name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'; ≤ 253 characters)`, '--secret');
    }
  }
  if (!a.accelerator) {
    const idle = ['zone', 'project', 'nodes'].filter((k) => a.given(k));
    if (idle.length > 0) {
      const many = idle.length > 1;
      throw bad(`${idle.map((k) => `--${k}`).join(', ')} only ${many ? 'apply' : 'applies'} to the Google Cloud checks: give --tpu, --gpu or --accelerator too (or leave ${many ? 'them' : 'it'} out)`, `--${idle[0]}`);
    }
  }
  if (a.zone !== undefined && !GCP_ZONE.test(a.zone)) {
    throw bad(`--zone "${a.zone}" is not a Compute Engine zone (like europe-west4-a or us-central1-a)`, '--zone');
  }
  if (a.project !== undefined && !GCP_PROJECT.test(a.project)) {
    throw bad(`--project "${a.project}" is not a Google Cloud project id (lower-case letters, digits and '-')`, '--project');
  }
}
