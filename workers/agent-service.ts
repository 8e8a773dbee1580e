import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service } from '@nats-io/services';
import type { Kysely } from 'kysely';
import type { Subjects } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import { handleChatRequest } from './chat-handler.js';
import type { MemoryDatabase } from './memory/schema.js';
import type { ChatProvider } from './providers/index.js';

/** Name under which workers appear in `nats micro ls`. */
export const WORKER_SERVICE_NAME = 'agentbus-worker';
// Micro services must carry a semver version; the package's own keeps `nats micro ls` truthful.
const WORKER_SERVICE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface AgentServiceDeps {
  nc: NatsConnection;
  db: Kysely<MemoryDatabase>;
  provider: ChatProvider;
  agents: readonly Agent[];
  subjects: Subjects;
  log: Logger;
}

export interface RunningAgentService {
  /** The NATS micro service id, also the `worker` in ack frames. */
  readonly id: string;
  readonly service: Service;
  /** Stops taking requests, then waits up to `timeoutMs` for answers in flight. */
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Serves the agents as one NATS micro service with an endpoint per agent. Each endpoint
 * subscribes in the queue group of its intent, so every extra worker process adds capacity,
 * and `$SRV.INFO` / `nats micro ls` show who serves what.
 */
export async function startAgentService(deps: AgentServiceDeps): Promise<RunningAgentService> {
  const { nc, agents, subjects, log } = deps;
  const service = await new Svcm(nc).add({
    name: WORKER_SERVICE_NAME,
    version: WORKER_SERVICE_VERSION,
    description: 'agentbus agent worker: chat requests in, reply frames out',
    metadata: { agents: agents.map((a) => a.name).join(','), provider: deps.provider.name, backend: deps.provider.endpoint },
  });
  const workerId = service.info().id;
  const inFlight = new Set<Promise<void>>();

  for (const agent of agents) {
    const handlerDeps = { nc, db: deps.db, provider: deps.provider, agent, workerId, log };
    service.addEndpoint(agent.name, {
      subject: subjects.chat(agent.name),
      queue: subjects.queueGroup(agent.name),
      metadata: { agent: agent.name, model: agent.model },
      handler: (err, msg) => {
        if (err) {
          log.error({ err, agent: agent.name }, 'endpoint subscription failed');
          return;
        }
        const work = handleChatRequest(handlerDeps, msg);
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work));
      },
    });
  }

  return {
    id: workerId,
    service,
    async stop(timeoutMs) {
      await service.stop();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
      await Promise.race([Promise.allSettled([...inFlight]), timeout]);
      clearTimeout(timer);
      if (inFlight.size > 0) log.warn({ inFlight: inFlight.size }, 'stopped with answers still in flight');
    },
  };
}
