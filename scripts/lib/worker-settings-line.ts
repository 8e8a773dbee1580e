import { recordingEnvReader } from '../../common/env-recorder.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { loadWorkerConfig } from '../../workers/config.js';

// Printed apart on the add-workers and add-gateway lines (the NATS ones are the new process's own, a
// gateway's PORT another), or never: a secret the user sets again themselves (API_KEYS among them).
const PRINTED_APART = /^(NATS_|DATA_DIR$|PORT$)/;
const SECRET = /(_KEYS?|_TOKEN|_SECRET)$|PASSWORD/;

/** Every variable a process reads, as its configuration loader reads them (the reference's list too). */
function settingNames(load: (env: NodeJS.ProcessEnv, read: ReturnType<typeof recordingEnvReader>['read']) => unknown) {
  const { read, variables } = recordingEnvReader();
  load({}, read);
  return [...new Set(variables.map((variable) => variable.name))];
}

/** A value as one shell word. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A URL's password (in its authority or a `password` parameter) left for the user to give; other text as it is. */
function withoutPassword(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    const parsed = new URL(value);
    if (parsed.password === '' && !parsed.searchParams.has('password')) return value;
    if (parsed.password !== '') parsed.password = 'PASSWORD';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', 'PASSWORD');
    return parsed.toString();
  } catch {
    return value;
  }
}

/**
 * The settings this stack's worker was given, as `NAME=value` words a worker added by hand needs to
 * reach the same model backend and write the same memory: every variable the worker reads that
 * `env` sets, less the NATS ones and DATA_DIR (the line has its own) and secrets. A URL is repeated
 * with PASSWORD in place of its password (DATABASE_URL's, an OLLAMA_URL's), so a copy that forgets
 * it fails to connect rather than writing memory of its own.
 */
export function workerSettingsToRepeat(env: NodeJS.ProcessEnv): string[] {
  return repeated(settingNames(loadWorkerConfig), env);
}

/** The same for a gateway added by hand: the same agents, keys file, limits and subject prefix as this one. */
export function gatewaySettingsToRepeat(env: NodeJS.ProcessEnv): string[] {
  return repeated(settingNames(loadGatewayConfig), env);
}

function repeated(names: string[], env: NodeJS.ProcessEnv): string[] {
  return names
    .filter((name) => env[name] !== undefined && env[name] !== '' && !PRINTED_APART.test(name) && !SECRET.test(name))
    .map((name) => `${name}=${shellWord(withoutPassword(env[name]!))}`);
}
