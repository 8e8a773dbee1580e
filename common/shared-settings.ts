import { DEFAULT_SUBJECT_PREFIX } from '../bus-schemas/index.js';
import { BUILTIN_DEFAULT_MODEL, DEFAULT_AGENTS_FILE } from './catalog.js';
import type { EnvReader } from './env.js';
import { DEFAULT_SECRET_PATTERNS_FILE } from './redaction.js';

// Settings the gateway, the workers and the tools read alike: one reader each, so they share
// the default, the checks and the line docs/configuration.md shows.

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export const readNatsUrl = (read: EnvReader): string =>
  read.string('NATS_URL', DEFAULT_NATS_URL, {
    doc: 'NATS server(s), comma-separated; `tls://host:port` for TLS. No credentials in it (it is logged)',
  });

export const readSubjectPrefix = (read: EnvReader): string =>
  read.string('SUBJECT_PREFIX', DEFAULT_SUBJECT_PREFIX, {
    doc: 'first token(s) of every NATS subject (`<prefix>.<agent>.chat`); every process must agree',
  });

export const readAgentsFile = (read: EnvReader): string =>
  read.string('AGENTS_FILE', DEFAULT_AGENTS_FILE, {
    doc: 'the agent catalog ([agents.md](agents.md)); checked at start, naming the bad field',
  });

export const readDefaultModel = (read: EnvReader): string | undefined =>
  read.optionalString('DEFAULT_MODEL', {
    doc: 'backend model of every agent whose catalog entry names none (the shipped agents name none)',
    shownDefault: `\`${BUILTIN_DEFAULT_MODEL}\``,
  });

export const readDataDir = (read: EnvReader): string =>
  read.string('DATA_DIR', './data', {
    doc: 'memory database `agentbus.sqlite`, keys file; for `npm start` also the NATS store and `nats-credentials/`',
  });

export const readSecretPatternsFile = (read: EnvReader): string =>
  read.string('SECRET_PATTERNS_FILE', DEFAULT_SECRET_PATTERNS_FILE, {
    doc: 'secret patterns: masked in trace logs and before non-local providers; a match makes a request private',
  });
