import { join } from 'node:path';
import type { EnvReader } from '../../common/env.js';
import { ROOT } from './child-process.js';

/** What `npm start` reads itself; the gateway's and the worker's settings it checks with their own loaders. */
export interface StartSettings {
  /** A NATS of the user's own; undefined: start the bundled nats-server. */
  natsUrl: string | undefined;
  /** Config file of the bundled nats-server. */
  natsConf: string;
}

export function readStartSettings(read: EnvReader): StartSettings {
  return {
    natsUrl: read.optionalString('NATS_URL', {
      doc: 'a NATS of your own; unset, `npm start` runs nats-server with `NATS_CONF` and a user per role',
      shownDefault: 'unset: the bundled one',
    }),
    natsConf: read.string('NATS_CONF', join(ROOT, 'nats.conf'), {
      doc: 'config of the bundled nats-server (`npm start` sets the `$AGENTBUS_NATS_*_PASSWORD` it reads)',
    }),
  };
}
