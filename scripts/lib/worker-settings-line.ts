import { recordingEnvReader } from '../../common/env-recorder.js';
import { loadWorkerConfig } from '../../workers/config.js';

// Printed apart on the add-workers line (the NATS ones are the new worker's own), or never: a secret
// the user sets again themselves.
const PRINTED_APART = /^(NATS_|DATA_DIR$)/;
const SECRET = /(KEY|PASSWORD|TOKEN|SECRET)/;

/** Every variable the worker reads, as its configuration loader reads them (the reference's list too). */
function workerSettingNames(): string[] {
  const { read, variables } = recordingEnvReader();
  loadWorkerConfig({}, read);
  return [...new Set(variables.map((variable) => variable.name))];
}

/** A value as one shell word. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A database URL with its password (if any) left for the user to give. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = 'PASSWORD';
    return parsed.toString();
  } catch {
    return '<your DATABASE_URL>';
  }
}

/**
 * The settings this stack's worker was given, as `NAME=value` words a worker added by hand needs to
 * reach the same model backend and write the same memory: every variable the worker reads that
 * `env` sets, less the NATS ones and DATA_DIR (the line has its own) and secrets. DATABASE_URL is
 * repeated with PASSWORD in place of its password, so a copy that forgets it fails to connect
 * rather than writing memory of its own.
 */
export function workerSettingsToRepeat(env: NodeJS.ProcessEnv): string[] {
  return workerSettingNames()
    .filter((name) => env[name] !== undefined && env[name] !== '' && !PRINTED_APART.test(name) && !SECRET.test(name))
    .map((name) => `${name}=${shellWord(name === 'DATABASE_URL' ? withoutPassword(env[name]!) : env[name]!)}`);
}
