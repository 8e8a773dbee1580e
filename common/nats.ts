import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger.js';

/**
 * Connects to NATS, reconnecting forever after the first success: a NATS restart must not
 * need a gateway or worker restart. The first connection fails fast with the URL named.
 */
export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000 });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${url} (NATS_URL): ${(err as Error).message}. Start the whole stack with "npm start", or point NATS_URL at a running nats-server.`, { cause: err });
  }
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'error') log.warn({ nats: status }, 'NATS connection problem');
      else if (status.type === 'reconnect') log.info({ nats: status }, 'NATS reconnected');
    }
  })();
  return nc;
}
