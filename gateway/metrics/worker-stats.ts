import type { Bus } from '../../common/bus.js';
import type { ServiceStats } from '@nats-io/services';
import { askWorkers } from '../bus/ask-workers.js';
import { Gauge, type Registry } from 'prom-client';

/** The workers' `$SRV.STATS`, gathered into gauges when `refresh()` runs (at scrape time). */
export interface WorkerStatsGauges {
  /**
   * Asks every worker for its stats, waiting at most `timeoutMs`, and replaces the gauges
   * with the answers (a worker gone since the last scrape disappears). Never throws.
   */
  refresh(bus: Bus, timeoutMs: number): Promise<void>;
}

type Numbers = Record<string, number>;

/** Numeric fields of an endpoint's `data`, nested objects flattened as `outer.inner`. */
function numericFields(data: Record<string, unknown>, prefix = ''): Numbers {
  const out: Numbers = {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === 'number' && Number.isFinite(value)) out[`${prefix}${key}`] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && prefix === '')
      Object.assign(out, numericFields(value as Record<string, unknown>, `${key}.`));
  }
  return out;
}

/** Registers the worker gauges (`agentbus_worker_*`, `agentbus_workers`) in `registry`. */
export function createWorkerStatsGauges(registry: Registry): WorkerStatsGauges {
  const registers = [registry];
  const labelNames = ['worker', 'endpoint'] as const;
  const gauges = {
    requests: new Gauge({
      name: 'agentbus_worker_requests',
      help: 'Requests an endpoint of a worker received since it started ($SRV.STATS num_requests).',
      labelNames,
      registers,
    }),
    errors: new Gauge({
      name: 'agentbus_worker_errors',
      help: 'Errors an endpoint of a worker raised since it started ($SRV.STATS num_errors).',
      labelNames,
      registers,
    }),
    inFlight: new Gauge({
      name: 'agentbus_worker_in_flight',
      help: 'Requests an endpoint of a worker is handling now.',
      labelNames,
      registers,
    }),
    answered: new Gauge({
      name: 'agentbus_worker_answered',
      help: 'Requests an endpoint of a worker answered since it started.',
      labelNames,
      registers,
    }),
    failed: new Gauge({
      name: 'agentbus_worker_failed',
      help: 'Requests an endpoint of a worker failed since it started, by error code.',
      labelNames: [...labelNames, 'code'],
      registers,
    }),
    restarts: new Gauge({
      name: 'agentbus_worker_restarts',
      help: 'Times npm start restarted a worker after it crashed (its AGENTBUS_RESTARTS), per worker.',
      labelNames: ['worker'],
      registers,
    }),
    other: new Gauge({
      name: 'agentbus_worker_data',
      help: "Other numeric fields of an endpoint's $SRV.STATS data (e.g. admission.queued), by key.",
      labelNames: [...labelNames, 'key'],
      registers,
    }),
  };
  const workers = new Gauge({
    name: 'agentbus_workers',
    help: 'Workers that answered $SRV.STATS at this scrape.',
    registers,
  });
  const up = new Gauge({
    name: 'agentbus_worker_stats_up',
    help: '1 when the workers could be asked over NATS at this scrape, 0 when NATS failed.',
    registers,
  });
  // Concurrent scrapes share one question, so their resets and sets never interleave.
  let running: Promise<void> | undefined;

  const apply = (ok: boolean, found: ServiceStats[]) => {
    for (const gauge of Object.values(gauges)) gauge.reset();
    up.set(ok ? 1 : 0);
    workers.set(found.length);
    for (const stats of found) {
      for (const endpoint of stats.endpoints ?? []) {
        const labels = { worker: stats.id, endpoint: endpoint.name };
        gauges.requests.set(labels, endpoint.num_requests);
        gauges.errors.set(labels, endpoint.num_errors);
        const data =
          endpoint.data !== null && typeof endpoint.data === 'object' ? (endpoint.data as Record<string, unknown>) : {};
        const { in_flight: inFlight, answered, restarts, ...rest } = numericFields(data);
        if (inFlight !== undefined) gauges.inFlight.set(labels, inFlight);
        // One number per process, repeated in each endpoint's data.
        if (restarts !== undefined) gauges.restarts.set({ worker: stats.id }, restarts);
        if (answered !== undefined) gauges.answered.set(labels, answered);
        const failed = data['failed'];
        if (failed !== null && typeof failed === 'object') {
          for (const [code, count] of Object.entries(failed))
            if (typeof count === 'number') gauges.failed.set({ ...labels, code }, count);
        }
        for (const [key, value] of Object.entries(rest))
          if (!key.startsWith('failed.')) gauges.other.set({ ...labels, key }, value);
      }
    }
  };

  return {
    refresh(bus, timeoutMs) {
      // Cut off from NATS, nobody can be asked: the source is down, whatever nats.js would buffer.
      if (!bus.connected) {
        apply(false, []);
        return Promise.resolve();
      }
      running ??= askWorkers(bus, 'stats', { timeoutMs })
        .then(({ found, error }) => apply(error === undefined, found))
        .finally(() => {
          running = undefined;
        });
      return running;
    },
  };
}
