import { JetStreamApiError, StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { errors } from '@nats-io/transport-node';
import type { Bus } from '../../common/bus.js';
import type { EnvReader } from '../../common/env.js';

/** JETSTREAM_REPLICAS: `auto`, or the replica count to insist on (NATS allows 1 to 5). */
export const REPLICAS_SETTINGS = ['auto', '1', '2', '3', '4', '5'] as const;
export type ReplicasSetting = (typeof REPLICAS_SETTINGS)[number];

export const readJetStreamReplicas = (read: EnvReader): ReplicasSetting =>
  read.oneOf('JETSTREAM_REPLICAS', 'auto', {
    allowed: REPLICAS_SETTINGS,
    doc:
      'replicas of the audit stream and the KV buckets `npm run bus:setup` makes: `auto` is 3 when JetStream ' +
      'can place 3 (a cluster of 3 or more JetStream nodes), else 1, and never lowers an existing count',
  });

/** The replicas `auto` aims for on a cluster: one node may fail, and a majority (2 of 3) remains. */
export const CLUSTER_REPLICAS = 3;

/** What `bus:setup` decided, and why in a sentence it prints. */
export interface ReplicasDecision {
  replicas: number;
  /** JETSTREAM_REPLICAS named the count: existing assets are brought to it, up or down. */
  explicit: boolean;
  why: string;
}

/** The stream `auto` creates and deletes at once to learn whether JetStream can place 3 replicas. */
export const PROBE_STREAM = 'AGENTBUS_REPLICAS_PROBE';

// JetStream API error codes (nats-server server/errors.json).
const NO_SUITABLE_PEERS = 10005; // "no suitable peers for placement": fewer JetStream servers than replicas
const TEMPORARILY_UNAVAILABLE = 10008; // no metadata leader yet (a cluster forming or losing its majority)
const REPLICAS_NOT_CLUSTERED = 10074; // "replicas > 1 not supported in non-clustered mode"
const STREAM_NOT_FOUND = 10059;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True for a JetStream API call that may succeed when tried again in a moment. */
function isTransient(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof JetStreamApiError) return e.code === TEMPORARILY_UNAVAILABLE;
    if (e instanceof errors.TimeoutError || e instanceof errors.NoRespondersError) return true;
  }
  return false;
}

/**
 * Calls `call` until it succeeds or fails for good: a cluster that has just started has no
 * JetStream metadata leader for a moment (code 10008, or no answer at all).
 */
export async function retryTransient<T>(call: () => Promise<T>, deadlineMs: number): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isTransient(err) || Date.now() > until) throw err;
      await sleep(250);
    }
  }
}

/**
 * How many replicas the streams and buckets get. JETSTREAM_REPLICAS=<n> decides alone. `auto`
 * asks the server: a server not in a cluster (its INFO names none) gets 1; in a cluster, a
 * memory stream of {@link CLUSTER_REPLICAS} replicas is created and deleted at once, so
 * JetStream itself says whether 3 of its servers are up (the meta layer counts only servers
 * with JetStream, which the client's server list cannot tell).
 */
export async function decideReplicas(
  bus: Bus,
  jsm: JetStreamManager,
  setting: ReplicasSetting,
  deadlineMs: number,
): Promise<ReplicasDecision> {
  if (setting !== 'auto') {
    return { replicas: Number(setting), explicit: true, why: `JETSTREAM_REPLICAS=${setting}` };
  }
  const server = bus.server;
  if (server?.cluster === undefined) {
    return {
      replicas: 1,
      explicit: false,
      why: `the NATS server${server ? ` ${server.name}` : ''} is not in a cluster (its INFO names none)`,
    };
  }
  await jsm.streams.delete(PROBE_STREAM).catch(() => undefined); // a probe a killed setup left
  try {
    const info = await retryTransient(
      () =>
        jsm.streams.add({
          name: PROBE_STREAM,
          description: 'agentbus bus:setup: can JetStream place 3 replicas? Deleted at once.',
          subjects: ['_agentbus.replicas_probe'],
          storage: StorageType.Memory,
          num_replicas: CLUSTER_REPLICAS,
          max_msgs: 1,
          max_bytes: 1024,
        }),
      deadlineMs,
    );
    await retryTransient(() => jsm.streams.delete(PROBE_STREAM), deadlineMs).catch(() => undefined);
    const peers = peerNames(info);
    return {
      replicas: CLUSTER_REPLICAS,
      explicit: false,
      why:
        `cluster "${server.cluster}" has ${CLUSTER_REPLICAS} or more JetStream nodes up ` +
        `(a ${CLUSTER_REPLICAS}-replica probe stream was placed on ${peers.join(', ')})`,
    };
  } catch (err) {
    if (err instanceof JetStreamApiError && (err.code === NO_SUITABLE_PEERS || err.code === REPLICAS_NOT_CLUSTERED)) {
      return {
        replicas: 1,
        explicit: false,
        why:
          `cluster "${server.cluster}" has fewer than ${CLUSTER_REPLICAS} JetStream nodes up ` +
          `(JetStream: "${err.message}"). If it has ${CLUSTER_REPLICAS} or more, start them all and run the ` +
          `setup again (it raises existing assets), or set JETSTREAM_REPLICAS=${CLUSTER_REPLICAS}`,
      };
    }
    throw new Error(`cannot learn how many JetStream nodes the cluster has: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The servers holding a stream's replicas: its leader first. */
export function peerNames(info: StreamInfo): string[] {
  const cluster = info.cluster;
  if (!cluster) return [];
  return [cluster.leader, ...(cluster.replicas ?? []).map((peer) => peer.name)].filter(
    (name): name is string => typeof name === 'string' && name !== '',
  );
}

/** What {@link ensureStreamReplicas} did to one stream. */
export type ReplicasOutcome =
  | { outcome: 'unchanged'; replicas: number }
  | { outcome: 'changed'; from: number; replicas: number }
  /** `auto` never lowers: the stream has more replicas than decided (a node may be down now). */
  | { outcome: 'kept'; replicas: number };

/**
 * Brings an existing stream (a KV bucket is the stream `KV_<bucket>`) to the decided replicas:
 * up always, down only when JETSTREAM_REPLICAS says so. The server moves the data to the new
 * peers itself; this waits (bounded) until the stream has a leader again, so the next call of
 * the setup does not meet an election.
 */
export async function ensureStreamReplicas(
  jsm: JetStreamManager,
  stream: string,
  decision: ReplicasDecision,
  deadlineMs: number,
): Promise<ReplicasOutcome> {
  const info = await retryTransient(() => jsm.streams.info(stream), deadlineMs);
  const from = info.config.num_replicas || 1;
  if (from === decision.replicas) return { outcome: 'unchanged', replicas: from };
  if (from > decision.replicas && !decision.explicit) return { outcome: 'kept', replicas: from };
  try {
    await jsm.streams.update(stream, { num_replicas: decision.replicas });
  } catch (err) {
    throw new Error(
      `cannot change the replicas of stream ${stream} from ${from} to ${decision.replicas}: ` +
        `${(err as Error).message}. Start every cluster node and run the setup again, set ` +
        `JETSTREAM_REPLICAS=${from} to keep it as it is, or change it yourself as the admin user ` +
        `(nats stream edit ${stream} --replicas ${decision.replicas})`,
      { cause: err },
    );
  }
  await waitForLeader(jsm, stream, decision.replicas, deadlineMs);
  return { outcome: 'changed', from, replicas: decision.replicas };
}

/** Waits until `stream` has a leader and `replicas` peers, for at most `deadlineMs`. */
async function waitForLeader(jsm: JetStreamManager, stream: string, replicas: number, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const info = await jsm.streams.info(stream).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) throw err;
      return undefined;
    });
    if (info && (replicas === 1 || (info.cluster?.leader && peerNames(info).length === replicas))) return;
    await sleep(250);
  }
}
