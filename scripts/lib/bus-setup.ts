import type { Bus } from '../../common/bus.js';
import type { EnvReader } from '../../common/env.js';
import { openKvBucket } from '../../common/jetstream-resources.js';
import {
  decideReplicas,
  ensureStreamReplicas,
  readJetStreamReplicas,
  retryTransient,
  type ReplicasSetting,
} from './jetstream-replicas.js';
import { readNatsClientSettings, type NatsClientSettings } from '../../common/nats-client.js';
import { readNatsUrl, readSubjectPrefix } from '../../common/shared-settings.js';
import { readAuditSettings, readRateLimitBucket } from '../../gateway/config.js';
import { readCacheTtlSeconds } from '../../workers/config.js';
import { setUpAuditStream, auditStreamName, type AuditSettings } from '../../gateway/audit/audit-stream.js';
import { rateLimitBucketOptions } from '../../gateway/rate-limit/rate-limit-bucket.js';
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
  /** JETSTREAM_REPLICAS (default `auto`): jetstream-replicas.ts. */
  replicas?: ReplicasSetting;
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
    replicas: readJetStreamReplicas(read),
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
// A cluster that has just started elects its JetStream leader first: calls wait for it this long.
const CLUSTER_WAIT_MS = 20_000;

/**
 * Creates the audit stream and the two KV buckets (response cache, rate limits), or brings
 * existing ones to `settings`, before any gateway or worker starts. Meant for the admin user: on
 * a locked-down bus (nats.conf) the runtime users may only use them. Calls `say` with the
 * replicas it decided and why (jetstream-replicas.ts), then one line per stream or bucket (and
 * one more for each whose replicas it changed); throws at the first one it cannot set up, naming it.
 */
export async function setUpBus(bus: Bus, settings: BusSetupSettings, say: (line: string) => void): Promise<void> {
  const jsm = await retryTransient(() => bus.jetstreamManager({ timeoutMs: API_TIMEOUT_MS }), CLUSTER_WAIT_MS);
  const decision = await decideReplicas(bus, jsm, settings.replicas ?? 'auto', CLUSTER_WAIT_MS);
  say(`JetStream replicas ${decision.replicas}: ${decision.why}`);
  const replicasOf = async (what: string, stream: string) => {
    const done = await ensureStreamReplicas(jsm, stream, decision, CLUSTER_WAIT_MS);
    if (done.outcome === 'changed') say(`${what}: replicas changed from ${done.from} to ${done.replicas}`);
    if (done.outcome === 'kept')
      say(
        `${what}: replicas kept at ${done.replicas} (auto never lowers them; ` +
          `JETSTREAM_REPLICAS=${decision.replicas} would)`,
      );
  };

  if (settings.audit.enabled) {
    const stream = auditStreamName(settings.subjectPrefix);
    const outcome = await retryTransient(
      () => setUpAuditStream(bus, settings.subjectPrefix, settings.audit, API_TIMEOUT_MS, decision.replicas),
      CLUSTER_WAIT_MS,
    ).catch((err: unknown) => {
      throw new Error(`cannot set up the audit stream ${stream}: ${(err as Error).message}`, { cause: err });
    });
    if (outcome === 'differs')
      throw new Error(
        `the audit stream ${stream} has other settings and this NATS user may not change it: ` +
          'run the setup as the admin user (NATS_USER=admin)',
      );
    say(`audit stream ${stream} ${outcome}`);
    await replicasOf(`audit stream ${stream}`, stream);
  } else say('audit stream skipped (AUDIT=off)');

  if (settings.cacheTtlSeconds > 0) {
    const ttlMs = settings.cacheTtlSeconds * 1000;
    const kv = await openKvBucket(
      bus,
      DEFAULT_CACHE_BUCKET,
      { ...responseCacheBucketOptions(ttlMs), replicas: decision.replicas },
      API_TIMEOUT_MS,
    ).catch((err: unknown) => {
      throw new Error(`cannot set up the response cache bucket ${DEFAULT_CACHE_BUCKET}: ${(err as Error).message}`, {
        cause: err,
      });
    });
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
    await replicasOf(`response cache bucket ${DEFAULT_CACHE_BUCKET}`, `KV_${DEFAULT_CACHE_BUCKET}`);
  } else say('response cache bucket skipped (CACHE_TTL_SECONDS=0)');

  await openKvBucket(
    bus,
    settings.rateLimitBucket,
    { ...rateLimitBucketOptions(), replicas: decision.replicas },
    API_TIMEOUT_MS,
  ).catch((err: unknown) => {
    throw new Error(`cannot set up the rate limit bucket ${settings.rateLimitBucket}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  say(`rate limit bucket ${settings.rateLimitBucket} ready`);
  await replicasOf(`rate limit bucket ${settings.rateLimitBucket}`, `KV_${settings.rateLimitBucket}`);
}
