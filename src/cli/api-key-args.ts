import { InvalidArgumentError, Option, type Command } from 'commander';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { upstreamKeyProblem } from '../shared/upstream-api-key.js';

/**
 * Bearer keys on kvgate's command lines: the keys a server requires (`serve --api-key`,
 * `sim --api-key`) and the one key kvgate presents to the model servers
 * (`serve`/`epp --upstream-api-key`). Keys are never echoed in an error or a log line.
 */

/**
 * `--api-key`, repeatable and comma-separated. A value with no key in it is an error, not "no
 * keys": `--api-key "$KEY"` with KEY unset would otherwise turn authentication off unnoticed.
 */
export function apiKeyArg(v: string, prev: string[] = []): string[] {
  const keys = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (keys.length === 0) throw new InvalidArgumentError('--api-key is empty (an unset variable in --api-key "$KEY"?): give a key, or leave --api-key out to serve without authentication');
  return [...prev, ...keys];
}

/**
 * The key a client command presents (`verify --api-key`): one key, checked as serve and sim
 * check theirs — an empty value is an error, not "no key" (an unset `$KEY` would otherwise send
 * no Authorization and make every check fail with 401 for a reason the table does not show).
 */
export function clientApiKeyArg(v: string, prev: string | undefined): string {
  // Empty: commander's own "argument '' is invalid" line, as serve and sim print it (nothing to hide).
  if (!v.trim()) throw new InvalidArgumentError('--api-key is empty (an unset variable in --api-key "$KEY"?): give a key, or leave --api-key out to call the endpoint without one');
  if (prev !== undefined) throw keyError('--api-key', '--api-key is given twice: give the one key the endpoint requires');
  return upstreamKey(v, '--api-key', (m) => keyError('--api-key', m));
}

/**
 * A refused key that is not empty: a KvgateError, not commander's InvalidArgumentError, whose
 * "argument 'VALUE' is invalid" would print the key.
 */
function keyError(flag: string, message: string): KvgateError {
  return new KvgateError(ErrorCode.InvalidConfig, message, { param: flag });
}

/** The environment variable that holds the upstream key (keeps it out of argv, which `ps` shows to every user). */
export const UPSTREAM_API_KEY_ENV = 'KVGATE_UPSTREAM_API_KEY';

/** Checks one upstream key from `where` (a flag or a variable): trimmed, not empty, printable ASCII (shared/upstream-api-key.ts). */
function upstreamKey(v: string, where: string, fail: (message: string) => Error): string {
  const key = v.trim();
  const problem = upstreamKeyProblem(key, where);
  if (problem) throw fail(problem);
  return key;
}

/** `--upstream-api-key`: one key, given once (kvgate presents a single key). */
export function upstreamApiKeyArg(v: string, prev: string | undefined): string {
  if (prev !== undefined) throw keyError('--upstream-api-key', '--upstream-api-key is given twice: kvgate presents one key to the model servers');
  return upstreamKey(v, '--upstream-api-key', (m) => keyError('--upstream-api-key', m));
}

/**
 * Adds `--upstream-api-key` to `serve` or `epp`; `sends` says which requests carry the key there.
 * The help names the variable, the way that keeps the key out of `ps`.
 */
export function addUpstreamApiKeyOption(cmd: Command, sends: string): Command {
  return cmd.addOption(
    new Option('--upstream-api-key <key>', `key the model servers require (vLLM --api-key), sent as "Authorization: Bearer <key>" on ${sends}; default: $${UPSTREAM_API_KEY_ENV}, safer than the flag (any user can read argv with ps)`).argParser(upstreamApiKeyArg),
  );
}

/**
 * The upstream key: `--upstream-api-key`, else $KVGATE_UPSTREAM_API_KEY, else the routing config's
 * `upstreamApiKey` (checked when the config loaded), else none — the flag overrides, and the
 * variable, as the flag's default, overrides the file as well. The variable set but empty is an
 * error (an unset `$KEY` would otherwise drop the key unnoticed).
 */
export function resolveUpstreamApiKey(o: { upstreamApiKey?: string }, env: NodeJS.ProcessEnv = process.env, config?: { upstreamApiKey?: string }): string | undefined {
  if (o.upstreamApiKey !== undefined) return o.upstreamApiKey;
  const v = env[UPSTREAM_API_KEY_ENV];
  if (v === undefined) return config?.upstreamApiKey;
  return upstreamKey(v, UPSTREAM_API_KEY_ENV, (m) => new KvgateError(ErrorCode.InvalidConfig, m, { param: UPSTREAM_API_KEY_ENV }));
}
