import { readEnv, type EnvReader } from './env.js';

/**
 * AGENTBUS_RESTARTS: how many times `npm start` restarted this process after a crash (0 at the
 * first start). Gateway and worker report it in `/metrics`, so a crash loop is visible there
 * even though each new process starts its own counters from zero.
 */
export const readRestarts = (read: EnvReader): number =>
  read.integer('AGENTBUS_RESTARTS', 0, {
    min: 0,
    doc: 'set by `npm start` when it restarts a crashed gateway or worker: how many times it did (`/metrics`)',
  });

/** {@link readRestarts} from `env`, throwing a ConfigError that names the variable when it is invalid. */
export function restartsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const read = readEnv(env);
  const restarts = readRestarts(read);
  read.done();
  return restarts;
}
