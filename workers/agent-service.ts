import { readFileSync } from 'node:fs';
import type { Service, ServiceMsg } from '@nats-io/services';
import type { Bus, BusMessage, BusSubscription } from '../common/bus.js';
import type { Kysely } from 'kysely';
import { AgentbusError, decodeCancelRequest, WORKER_SERVICE_NAME, type Subjects } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import { Admission, ADMISSION_DEFAULTS, admittedChains, type AdmissionSettings } from './admission.js';
import { handleChatRequest } from './chat-handler.js';
import { handleEmbedRequest } from './embed-handler.js';
import { handleSpeechRequest } from './speech-handler.js';
import type { AudioChains } from './audio/chains.js';
import { defaultAudioChains } from './audio/from-config.js';
import { handleTranscriptionRequest } from './transcription-handler.js';
import type { TranscriptionSettings } from './transcription/settings.js';
import { InFlight } from './in-flight.js';
import { handleMemoryQuery } from './memory-query-handler.js';
import { handleMemoryResponseQuery } from './memory-response-handler.js';
import { handleMemoryCommit } from './memory-commit-handler.js';
import { startWorkerBeat } from './worker-beat.js';
import type { MemoryHealth } from './memory/health.js';
import type { MemoryDatabase } from './memory/schema.js';
import type { ProviderChains } from './providers/chain.js';
import type { ResponseCache } from './cache/response-cache.js';
import { packagePath } from '../common/package-root.js';

/** Name under which workers appear in `nats micro ls`. */
export { WORKER_SERVICE_NAME };
// Endpoint answering memory queries (`<prefix>.memory.last`), beside one endpoint per agent.
const MEMORY_ENDPOINT_NAME = 'memory';
const MEMORY_QUERY = 'memory.last';
const RESPONSE_ENDPOINT_NAME = 'memory-response';
const RESPONSE_QUERY = 'memory.response';
const COMMIT_ENDPOINT_NAME = 'memory-commit';
const COMMIT_QUERY = 'memory.commit';
// Micro services must carry a semver version; the package's own keeps `nats micro ls` truthful.
const WORKER_SERVICE_VERSION = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string })
  .version;

export interface AgentServiceDeps {
  bus: Bus;
  db: Kysely<MemoryDatabase>;
  providers: ProviderChains;
  cache: ResponseCache;
  agents: readonly Agent[];
  subjects: Subjects;
  log: Logger;
  /** MAX_INFLIGHT, MAX_QUEUED, QUEUE_TIMEOUT_MS; defaults when omitted. */
  admission?: Readonly<AdmissionSettings>;
  /** The providers' last probes, reported in `$SRV.STATS` as `backend` (1 answers, 0 not). */
  backendHealth?: { snapshot(): Record<string, number> } | undefined;
  /** Where memory is, named when it cannot be written: `DATA_DIR (…)` or `DATABASE_URL (…)` (memory/settings.ts). */
  memoryAt?: string | undefined;
  /** Whether the memory database takes writes (memory/health.ts), for requests and `$SRV.STATS`. */
  memoryHealth?: MemoryHealth | undefined;
  /**
   * The memory database's id (memory/identity.ts), in `$SRV.INFO` metadata as `memory`: workers
   * of one agent, or answering the same memory queries, must report the same (gateway/routes/memory-split.ts).
   */
  memoryId?: string | undefined;
  /** How many times `npm start` restarted this worker (AGENTBUS_RESTARTS), in every endpoint's stats. */
  restarts?: number;
  /** The voice agents' chains of audio engines; espeak-ng and pocketsphinx alone on PATH when omitted. */
  audio?: AudioChains | undefined;
  /** POCKETSPHINX_PATH, POCKETSPHINX_MODEL_DIR, FFMPEG_PATH for the default chains (without `audio`). */
  transcription?: Readonly<TranscriptionSettings> | undefined;
}

export interface RunningAgentService {
  /** The NATS micro service id, also the `worker` in ack frames. */
  readonly id: string;
  readonly service: Service;
  /** The memory database's id it reports (undefined when it could not be read). */
  readonly memoryId: string | undefined;
  /** Resolves when the service stopped: null after `stop()`, an Error if it died on its own. */
  readonly stopped: Promise<null | Error>;
  /**
   * Stops taking requests and refuses those still waiting for a model call (`worker_lost`, so
   * their requesters retry elsewhere at once), waits up to `timeoutMs` for answers in flight,
   * then aborts the rest (their requesters get `worker_lost`, nothing is stored).
   */
  stop(timeoutMs: number): Promise<void>;
}

/** The providers the agents' chains use and where each is, for `$SRV.INFO` (string values only). */
function providerMetadata(providers: ProviderChains, agents: readonly Agent[]): { provider: string; backend: string } {
  const names = [...new Set(agents.flatMap((agent) => providers.linksOf(agent).map((link) => link.provider)))];
  return { provider: names.join(','), backend: names.map((name) => providers.provider(name).endpoint).join(',') };
}

/** Per-agent counters reported in `$SRV.STATS` (`data`), since answers fail asynchronously. */
interface AgentCounters {
  /** Requests being handled, including those waiting for a model call. */
  in_flight: number;
  answered: number;
  failed: Record<string, number>;
}

/**
 * Serves the agents as one NATS micro service with an endpoint per agent. Each endpoint
 * subscribes in the queue group of its intent, so every extra worker process adds capacity,
 * and `$SRV.INFO` / `nats micro ls` show who serves what. Requests in flight can be cancelled
 * over each agent's `subjects.cancel(agent)`.
 */
export async function startAgentService(deps: AgentServiceDeps): Promise<RunningAgentService> {
  const { bus, agents, subjects, log } = deps;
  const counters = new Map<string, AgentCounters>(
    agents.map((a) => [a.name, { in_flight: 0, answered: 0, failed: {} }]),
  );
  const memoryCounters: AgentCounters = { in_flight: 0, answered: 0, failed: {} };
  const responseCounters: AgentCounters = { in_flight: 0, answered: 0, failed: {} };
  const commitCounters: AgentCounters = { in_flight: 0, answered: 0, failed: {} };
  const speechCounters = new Map<string, AgentCounters>(
    agents.filter((a) => a.speech).map((a) => [a.name, { in_flight: 0, answered: 0, failed: {} }]),
  );
  const transcriptionCounters = new Map<string, AgentCounters>(
    agents.filter((a) => a.transcription).map((a) => [a.name, { in_flight: 0, answered: 0, failed: {} }]),
  );
  // One gate for all agents: they share the worker's model backends.
  const admission = new Admission(deps.admission ?? ADMISSION_DEFAULTS);
  const restarts = deps.restarts ?? 0;
  // What `/ready` and `/metrics` read of each agent endpoint besides the counters: whether its
  // chain has a provider it may call now, and whether this worker's memory takes writes.
  const agentStats = (name: string): Record<string, unknown> | null => {
    const count = counters.get(name);
    const agent = agents.find((a) => a.name === name);
    if (!count || !agent) return null;
    const unavailable = deps.providers.unavailable(agent);
    const memoryProblem = deps.memoryHealth?.problem;
    return {
      ...count,
      restarts,
      admission: admission.stats(),
      ...(deps.backendHealth ? { backend: deps.backendHealth.snapshot() } : {}),
      providers_available: unavailable === undefined ? 1 : 0,
      ...(unavailable === undefined ? {} : { unavailable }),
      memory_writable: memoryProblem === undefined ? 1 : 0,
      ...(memoryProblem === undefined ? {} : { memory_problem: memoryProblem }),
    };
  };
  const audio = deps.audio ?? defaultAudioChains(log, deps.transcription);
  // An audio endpoint's counters, and whether an engine of its chain may be called now.
  const audioStats = (
    counts: Map<string, AgentCounters>,
    name: string,
    unavailableOf: (agent: Agent) => string | undefined,
  ): Record<string, unknown> => {
    const agent = agents.find((a) => a.name === name);
    const unavailable = agent && unavailableOf(agent);
    return {
      ...counts.get(name),
      restarts,
      providers_available: unavailable === undefined ? 1 : 0,
      ...(unavailable === undefined ? {} : { unavailable }),
    };
  };
  const service = await bus.services().add({
    name: WORKER_SERVICE_NAME,
    version: WORKER_SERVICE_VERSION,
    description: 'agentbus agent worker: chat requests in, reply frames out',
    metadata: {
      agents: agents.map((a) => a.name).join(','),
      ...providerMetadata(deps.providers, agents),
      ...(deps.memoryId === undefined ? {} : { memory: deps.memoryId }),
    },
    statsHandler: async (endpoint) =>
      endpoint.metadata?.['query'] === MEMORY_QUERY
        ? { ...memoryCounters, restarts }
        : endpoint.metadata?.['query'] === RESPONSE_QUERY
          ? { ...responseCounters, restarts }
          : endpoint.metadata?.['query'] === COMMIT_QUERY
            ? { ...commitCounters, restarts }
            : endpoint.metadata?.['speech'] !== undefined
              ? audioStats(speechCounters, endpoint.metadata['speech'], (a) => audio.unavailable(a))
              : endpoint.metadata?.['transcription'] !== undefined
                ? audioStats(transcriptionCounters, endpoint.metadata['transcription'], (a) =>
                    audio.transcriptionUnavailable(a),
                  )
                : agentStats(endpoint.metadata?.['agent'] ?? ''),
  });
  const workerId = service.info().id;
  const inFlight = new InFlight();

  // An endpoint handler that runs `handle` as tracked work (a stop waits for it) and counts
  // its outcome for `$SRV.STATS` (answers complete after the handler returns).
  const counted =
    (
      count: AgentCounters,
      endpoint: string,
      handle: (msg: ServiceMsg) => Promise<{ ok: true } | { ok: false; code: string }>,
    ) =>
    (err: Error | null, msg: ServiceMsg) => {
      if (err) {
        log.error({ err, endpoint }, 'endpoint subscription failed');
        return;
      }
      count.in_flight++;
      inFlight.track(
        handle(msg)
          .then((outcome) => {
            if (outcome.ok) count.answered++;
            else count.failed[outcome.code] = (count.failed[outcome.code] ?? 0) + 1;
          })
          .catch((error: unknown) => log.error({ err: error, endpoint }, 'handler failed unexpectedly'))
          .finally(() => {
            count.in_flight--;
          }),
      );
    };

  for (const agent of agents) {
    const { db, providers, cache, memoryAt, memoryHealth } = deps;
    const handlerDeps = { bus, db, memoryAt, memoryHealth, providers, cache, agent, workerId, log };
    const count = counters.get(agent.name)!;
    if (agent.kind === 'embedding') {
      // Same endpoint name and queue group as a chat agent's: /ready and $SRV.STATS read it alike.
      service.addEndpoint(agent.name, {
        subject: subjects.embed(agent.name),
        queue: subjects.queueGroup(agent.name),
        metadata: { agent: agent.name, model: agent.model, kind: 'embedding' },
        handler: counted(count, `agent ${agent.name}`, async (msg) => {
          const admitted = admittedChains(deps.providers, admission);
          try {
            const embedDeps = { providers: admitted.providers, agent, log, bus, workerId };
            return await handleEmbedRequest(embedDeps, msg, inFlight);
          } finally {
            admitted.releaseAll();
          }
        }),
      });
      continue;
    }
    const speechCount = speechCounters.get(agent.name);
    if (speechCount) {
      // Its own endpoint (not `agent`-tagged: /ready counts chat endpoints) in the agent's queue group.
      const speechDeps = { bus, agent, audio, admission, workerId, log };
      service.addEndpoint(`${agent.name}-speech`, {
        subject: subjects.speech(agent.name),
        queue: subjects.queueGroup(agent.name),
        metadata: { speech: agent.name },
        handler: counted(speechCount, `speech ${agent.name}`, (msg) => handleSpeechRequest(speechDeps, msg, inFlight)),
      });
    }
    const transcriptionCount = transcriptionCounters.get(agent.name);
    if (transcriptionCount) {
      const transcriptionDeps = { bus, agent, audio, admission, workerId, log };
      service.addEndpoint(`${agent.name}-transcribe`, {
        subject: subjects.transcribe(agent.name),
        queue: subjects.queueGroup(agent.name),
        metadata: { transcription: agent.name },
        handler: counted(transcriptionCount, `transcribe ${agent.name}`, (msg) =>
          handleTranscriptionRequest(transcriptionDeps, msg, inFlight),
        ),
      });
    }
    service.addEndpoint(agent.name, {
      subject: subjects.chat(agent.name),
      queue: subjects.queueGroup(agent.name),
      metadata: { agent: agent.name, model: agent.model },
      handler: counted(count, `agent ${agent.name}`, async (msg) => {
        const admitted = admittedChains(deps.providers, admission);
        try {
          return await handleChatRequest({ ...handlerDeps, providers: admitted.providers }, msg, inFlight);
        } finally {
          // The handler normally frees its slot when the answer's events end; this covers an
          // answer it opened but never read to the end.
          admitted.releaseAll();
        }
      }),
    });
  }

  // Any worker may answer a memory query (all share one database), so one queue group for all.
  const memoryQueryDeps = { db: deps.db, log, memoryAt: deps.memoryAt, memoryHealth: deps.memoryHealth };
  service.addEndpoint(MEMORY_ENDPOINT_NAME, {
    subject: subjects.memoryLast,
    queue: subjects.memoryQueueGroup,
    metadata: { query: MEMORY_QUERY },
    handler: counted(memoryCounters, 'memory', (msg) => handleMemoryQuery(memoryQueryDeps, msg)),
  });
  // Stored responses (the Responses API's GET and DELETE) are turns of the same database.
  service.addEndpoint(RESPONSE_ENDPOINT_NAME, {
    subject: subjects.memoryResponse,
    queue: subjects.memoryQueueGroup,
    metadata: { query: RESPONSE_QUERY },
    handler: counted(responseCounters, 'memory-response', (msg) => handleMemoryResponseQuery(memoryQueryDeps, msg)),
  });

  // A delivered turn whose worker died before committing it: any worker commits it.
  service.addEndpoint(COMMIT_ENDPOINT_NAME, {
    subject: subjects.memoryCommit,
    queue: subjects.memoryQueueGroup,
    metadata: { query: COMMIT_QUERY },
    handler: counted(commitCounters, 'memory-commit', (msg) => handleMemoryCommit({ db: deps.db, log }, msg)),
  });

  // Every worker of an agent hears its cancels (no queue group); only the one holding the request acts.
  const onCancel = (err: Error | null, msg: BusMessage): void => {
    if (err) return;
    try {
      const cancel = decodeCancelRequest(msg.data);
      inFlight.cancel(
        cancel.request_id,
        new AgentbusError('request_cancelled', `Cancelled by the requester: ${cancel.reason}`),
      );
    } catch (error) {
      log.warn({ err: error }, 'ignored an invalid cancel request');
    }
  };
  const cancels: BusSubscription[] = agents.map((agent) =>
    bus.subscribe(subjects.cancel(agent.name), { callback: onCancel }),
  );

  // Cut off from NATS, the frames of every answer in flight are lost (or arrive after the
  // requester gave up): stop those model calls now, storing nothing, rather than finish them.
  const stopWatchingBus = bus.onChange((state) => {
    if (state.connected || inFlight.size === 0) return;
    log.warn(
      { inFlight: inFlight.size, problem: state.problem },
      'lost the NATS connection: aborting answers in flight',
    );
    inFlight.abortAll(
      new AgentbusError('bus_unavailable', `The worker lost its NATS connection (${state.problem ?? 'disconnected'}).`),
    );
  });

  // Last, once every endpoint listens: a beat says requests to these agents will be read.
  const beatSubjects = agents.map((a) => subjects.workerBeat(a.name));
  const stopBeating = startWorkerBeat({ bus, subjects: beatSubjects, worker: workerId, log });
  void service.stopped.then(stopBeating, stopBeating);

  return {
    id: workerId,
    service,
    memoryId: deps.memoryId,
    stopped: service.stopped,
    async stop(timeoutMs) {
      // `leaving` first: gateways stop waiting for requests this worker will now never read.
      stopBeating();
      await service.stop();
      // A draining worker starts no model call it would have to wait for: those requests go
      // back to the gateway now, which retries them on another worker.
      admission.close(
        new AgentbusError(
          'worker_lost',
          'The worker shut down while this request waited for a free model call (it had not started); ' +
            'send the request again.',
        ),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([inFlight.settled(), timeout]);
      clearTimeout(timer);
      if (inFlight.size > 0) {
        log.warn({ inFlight: inFlight.size }, 'answers still in flight after the drain timeout: aborting them');
        inFlight.abortAll(
          new AgentbusError('worker_lost', 'The worker shut down before the answer finished; send the request again.'),
        );
        await inFlight.settled();
      }
      for (const sub of cancels) sub.unsubscribe();
      stopWatchingBus();
    },
  };
}
