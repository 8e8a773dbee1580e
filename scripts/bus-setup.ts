import { readEnv } from '../common/env.js';
import { createLogger } from '../common/logger.js';
import { isPermissionViolation } from '../common/jetstream-resources.js';
import { connectBus } from '../common/bus.js';
import { readBusSetupEnv, setUpBus } from './lib/bus-setup.js';

// npm run bus:setup: creates the audit stream and the KV buckets the gateway and workers use,
// with the admin user (NATS_USER=admin, NATS_PASSWORD_FILE=DATA_DIR/nats-credentials/admin.password
// for the bundled nats.conf). Run it with the same SUBJECT_PREFIX, AUDIT_*, CACHE_TTL_SECONDS and
// RATE_LIMIT_BUCKET as the gateway and workers. `npm start` does this for its own nats-server.

const say = (line: string) => process.stdout.write(`[bus:setup] ${line}\n`);

async function main(): Promise<number> {
  // Only the variables the setup needs, through the processes' own readers (same defaults and
  // checks): a gateway-only problem such as HOST without keys must not block it.
  const read = readEnv();
  const { natsUrl, client, settings } = readBusSetupEnv(read);
  read.done();
  const log = createLogger('bus-setup', { level: 'error' });
  const bus = await connectBus({ url: natsUrl, role: 'admin', name: 'agentbus-bus-setup', log, client });
  try {
    say(`NATS at ${natsUrl} as ${client.user === undefined ? 'no user' : `user "${client.user}"`}`);
    await setUpBus(bus, settings, say);
    say('done');
    return 0;
  } finally {
    await bus.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const hint = isPermissionViolation(err)
      ? ' This NATS user may not create or change streams: ' +
        'run the setup as the admin user (NATS_USER=admin; README "Securing the bus").'
      : '';
    process.stderr.write(`[bus:setup] failed: ${(err as Error).message}${hint}\n`);
    process.exit(1);
  },
);
