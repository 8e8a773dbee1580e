import {
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { Bus } from '../../common/bus.js';
import { DEFAULT_SUBJECT_PREFIX, subjectsFor } from '../../bus-schemas/index.js';
import { BUS_SETUP_HINT, BusSetupNeededError, isPermissionViolation } from '../../common/jetstream-resources.js';
import type { Logger } from '../../common/logger.js';

/** Name of the audit stream of the default prefix (`agents`). */
export const DEFAULT_AUDIT_STREAM = 'AGENTBUS_AUDIT';

/** Every JetStream API call of the set-up may take this long; the whole set-up at most 3 of them. */
const API_TIMEOUT_MS = 2_000;

export interface AuditSettings {
  /** AUDIT=on: keep every chat request envelope in the audit stream. */
  enabled: boolean;
  /** AUDIT_MAX_AGE_SECONDS: envelopes older than this are dropped. */
  maxAgeSeconds: number;
  /** AUDIT_MAX_BYTES: the oldest envelopes are dropped to stay under this. */
  maxBytes: number;
}

/**
 * The audit stream of a subject prefix: `AGENTBUS_AUDIT` for `agents`, otherwise
 * `AGENTBUS_AUDIT_<prefix>` with dots as `_`, so two deployments (or test runs) on one NATS keep
 * separate streams. Their subjects never overlap: `<prefix>.*.chat` of two prefixes differ in a
 * literal token or in their number of tokens.
 */
export function auditStreamName(prefix: string = DEFAULT_SUBJECT_PREFIX): string {
  subjectsFor(prefix); // throws for a prefix that is not plain subject tokens
  return prefix === DEFAULT_SUBJECT_PREFIX
    ? DEFAULT_AUDIT_STREAM
    : `${DEFAULT_AUDIT_STREAM}_${prefix.replace(/\./g, '_')}`;
}

/**
 * The stream configuration the gateway wants (and sets on an existing stream that differs).
 * `replicas` (bus:setup's decision) applies when the stream is created; without it the server's
 * default (1). An existing stream's replicas are bus:setup's business (jetstream-replicas.ts):
 * a gateway never changes them.
 */
export function auditStreamConfig(
  prefix: string,
  settings: Pick<AuditSettings, 'maxAgeSeconds' | 'maxBytes'>,
  replicas?: number,
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  const subjects = subjectsFor(prefix);
  return {
    name: auditStreamName(prefix),
    description:
      'agentbus: a copy of every chat, embed and speech request envelope the gateway published, ' +
      `on ${subjects.allAudit}, ${subjects.allAuditEmbed} and ${subjects.allAuditSpeech} (for replay)`,
    subjects: [subjects.allAudit, subjects.allAuditEmbed, subjects.allAuditSpeech],
    // The stream must never answer a request itself: its PubAck would reach the requester as a
    // (malformed) reply frame. no_ack keeps it a silent listener.
    no_ack: true,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: settings.maxAgeSeconds * 1e9, // nanoseconds
    max_bytes: settings.maxBytes,
    max_msgs: -1,
    ...(replicas === undefined ? {} : { num_replicas: replicas }),
  };
}

export interface EnsureAuditStreamOptions {
  bus: Bus;
  subjectPrefix: string;
  settings: AuditSettings;
  log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * Opens the audit stream, creating it when missing or bringing an existing one to the configured
 * subjects and limits where this NATS user may (on a locked-down bus only the admin user of
 * `npm run bus:setup` may: the gateway then uses the stream as it is, with a warning when it
 * differs). Resolves with its name. Never throws and never takes much longer than 6 s: without
 * JetStream, with a missing stream it may not create, or with any other problem it logs one
 * warning and resolves undefined, and the gateway runs without audit. Resolves undefined at once
 * when AUDIT=off.
 */
export async function ensureAuditStream(options: EnsureAuditStreamOptions): Promise<string | undefined> {
  const { bus, subjectPrefix, settings, log } = options;
  if (!settings.enabled) return undefined;
  const wanted = auditStreamConfig(subjectPrefix, settings);
  try {
    const outcome = await setUpAuditStream(bus, subjectPrefix, settings, API_TIMEOUT_MS);
    if (outcome === 'differs') {
      log.warn(
        {
          stream: wanted.name,
          subjects: wanted.subjects,
          maxAgeSeconds: settings.maxAgeSeconds,
          maxBytes: settings.maxBytes,
        },
        `the audit stream ${wanted.name} has other subjects or limits than configured ` +
          '(AUDIT_MAX_AGE_SECONDS, AUDIT_MAX_BYTES, SUBJECT_PREFIX) and this NATS user may not change it; ' +
          `recording with the stream as it is. To apply the settings, ${BUS_SETUP_HINT}`,
      );
    }
    log.info(
      {
        stream: wanted.name,
        subjects: wanted.subjects,
        maxAgeSeconds: settings.maxAgeSeconds,
        maxBytes: settings.maxBytes,
        outcome,
      },
      'audit stream ready: chat and embeddings requests are recorded for replay',
    );
    return wanted.name;
  } catch (err) {
    const fix =
      err instanceof BusSetupNeededError
        ? `To create it, ${BUS_SETUP_HINT}; or set AUDIT=off to silence this.`
        : 'Run NATS with JetStream enabled (nats-server -js, or the jetstream block of nats.conf), ' +
          'or set AUDIT=off to silence this.';
    log.warn(
      { err, stream: wanted.name },
      `cannot set up the audit stream ${wanted.name} (${(err as Error).message}); ` +
        `chat and embeddings requests are not recorded and cannot be replayed. ${fix}`,
    );
    return undefined;
  }
}

/**
 * Creates the audit stream of `subjectPrefix`, or brings an existing one to `settings`, as far
 * as this NATS user may: `differs` when it exists with other settings this user may not change;
 * a missing stream it may not create is a {@link BusSetupNeededError}. Throws for any other
 * problem (no JetStream, a timeout). `npm run bus:setup` calls it as the admin user.
 */
export async function setUpAuditStream(
  bus: Bus,
  subjectPrefix: string,
  settings: Pick<AuditSettings, 'maxAgeSeconds' | 'maxBytes'>,
  timeoutMs: number,
  replicas?: number,
): Promise<'created' | 'updated' | 'unchanged' | 'differs'> {
  const jsm = await bus.jetstreamManager({ timeoutMs });
  return createOrUpdate(jsm, auditStreamConfig(subjectPrefix, settings, replicas));
}

async function createOrUpdate(
  jsm: JetStreamManager,
  wanted: ReturnType<typeof auditStreamConfig>,
): Promise<'created' | 'updated' | 'unchanged' | 'differs'> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(wanted.name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
    try {
      await jsm.streams.add(wanted);
    } catch (addErr) {
      if (isPermissionViolation(addErr))
        throw new BusSetupNeededError(`it does not exist and the gateway's NATS user may not create it`, {
          cause: addErr,
        });
      throw addErr;
    }
    return 'created';
  }
  const same =
    current.no_ack === wanted.no_ack &&
    current.max_age === wanted.max_age &&
    current.max_bytes === wanted.max_bytes &&
    JSON.stringify(current.subjects ?? []) === JSON.stringify(wanted.subjects);
  if (same) return 'unchanged';
  // storage and retention cannot change on a live stream; everything else we set can, but the
  // replicas are left to bus:setup's own step (it never lowers them unasked).
  const { storage: _storage, retention: _retention, name: _name, num_replicas: _replicas, ...changeable } = wanted;
  try {
    await jsm.streams.update(wanted.name, { ...current, ...changeable });
  } catch (err) {
    if (isPermissionViolation(err)) return 'differs';
    throw err;
  }
  return 'updated';
}
