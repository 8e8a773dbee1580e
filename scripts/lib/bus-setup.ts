import type { Bus } from '../../common/bus.js';
import type { EnvReader } from '../../common/env.js';
import { openKvBucket } from '../../common/jetstream-resources.js';
import { readNatsClientSettings, type NatsClientSettings } from '../../common/nats-client.js';
import { readNatsUrl, readSubjectPrefix } from '../../common/shared-settings.js';
import { readAuditSettings, readRateLimitBucket } from '../../gateway/config.js';
import { readCacheTtlSeconds } from '../../workers/config.js';
import { setUpAuditStream, auditStreamName, type AuditSettings } from '../../gateway/audit/audit-stream.js';
import { openRateLimitBucket } from '../../gateway/rate-limit/rate-limit-bucket.js';
import {
  applyResponseCacheTtl,
  DEFAULT_CACHE_BUCKET,
  responseCacheBucketOptions,
} from '../../workers/cache/response-cache.js';

/** What the streams and buckets must look like: the gateway's and the workers' settings. */
export interface BusSetupSettings {
  /** SUBJECT_PREFIX: names the audit stream and its subjects. */
  subjectPrefix: string;
  /** AUDIT, AUDIT_MAX_AGE_SECONDS, AUDIT_MAX_BYTES: no stream when AUDIT=off. */
  audit: Readonly<AuditSettings>;
  /** CACHE_TTL_SECONDS: the cache bucket's max age; no bucket when 0. */
  cacheTtlSeconds: number;
  /** RATE_LIMIT_BUCKET. */
  rateLimitBucket: string;
}

/**
 * The settings from the environment through the gateway's and the workers' own readers (same
 * defaults, checks and messages), and only those: the rest of their configuration (HOST and
 * the keys, providers, …) is not the setup's business and must not stop it.
 */
export function readBusSetupSettings(read: EnvReader): BusSetupSettings {
  return {
    subjectPrefix: readSubjectPrefix(read),
    audit: readAuditSettings(read),
    cacheTtlSeconds: readCacheTtlSeconds(read),
    rateLimitBucket: readRateLimitBucket(read),
  };
}

/** Everything `npm run bus:setup` reads: the admin's connection, then {@link readBusSetupSettings}. */
export function readBusSetupEnv(read: EnvReader): {
  natsUrl: string;
  client: NatsClientSettings;
  settings: BusSetupSettings;
} {
  const natsUrl = readNatsUrl(read);
  return { natsUrl, client: readNatsClientSettings(read, 'admin', natsUrl), settings: readBusSetupSettings(read) };
}

// Creating a stream writes to disk (or a cluster): give it longer than the runtime's 2 s.
const API_TIMEOUT_MS = 10_000;

/**
 * Creates the audit stream and the two KV buckets (response cache, rate limits), or brings
 * existing ones to `settings`, before any gateway or worker starts. Meant for the admin user: on
 * a locked-down bus (nats.conf) the runtime users may only use them. Calls `say` with one line
 * per stream or bucket; throws at the first one it cannot set up, naming it.
 */
export async function setUpBus(bus: Bus, settings: BusSetupSettings, say: (line: string) => void): Promise<void> {
  if (settings.audit.enabled) {
    const stream = auditStreamName(settings.subjectPrefix);
    const outcome = await setUpAuditStream(bus, settings.subjectPrefix, settings.audit, API_TIMEOUT_MS).catch(
      (err: unknown) => {
        throw new Error(`cannot set up the audit stream ${stream}: ${(err as Error).message}`, { cause: err });
      },
    );
    if (outcome === 'differs')
      throw new Error(
        `the audit stream ${stream} has other settings and this NATS user may not change it: ` +
          'run the setup as the admin user (NATS_USER=admin)',
      );
    say(`audit stream ${stream} ${outcome}`);
  } else say('audit stream skipped (AUDIT=off)');

  if (settings.cacheTtlSeconds > 0) {
    const ttlMs = settings.cacheTtlSeconds * 1000;
    const kv = await openKvBucket(bus, DEFAULT_CACHE_BUCKET, responseCacheBucketOptions(ttlMs), API_TIMEOUT_MS).catch(
      (err: unknown) => {
        throw new Error(`cannot set up the response cache bucket ${DEFAULT_CACHE_BUCKET}: ${(err as Error).message}`, {
          cause: err,
        });
      },
    );
    const applied = await applyResponseCacheTtl(bus, kv, ttlMs);
    if (applied.outcome === 'failed')
      throw new Error(
        `cannot change the response cache bucket ${DEFAULT_CACHE_BUCKET}'s TTL ` +
          `from ${applied.fromMs / 1000} s to ${settings.cacheTtlSeconds} s: ${(applied.err as Error).message}`,
        { cause: applied.err },
      );
    say(
      `response cache bucket ${DEFAULT_CACHE_BUCKET} ready (TTL ${settings.cacheTtlSeconds} s` +
        `${applied.outcome === 'changed' ? `, changed from ${applied.fromMs / 1000} s` : ''})`,
    );
  } else say('response cache bucket skipped (CACHE_TTL_SECONDS=0)');

  await openRateLimitBucket(bus, settings.rateLimitBucket, API_TIMEOUT_MS).catch((err: unknown) => {
    throw new Error(`cannot set up the rate limit bucket ${settings.rateLimitBucket}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  say(`rate limit bucket ${settings.rateLimitBucket} ready`);
}
