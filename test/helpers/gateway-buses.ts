import { connectBus, type Bus } from '../../common/bus.js';
import { createLogger } from '../../common/logger.js';
import { startTestNats } from './nats.js';

/** A payload as text and text as a payload: the bus tests' messages are short strings. */
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);
export const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

/**
 * A nats-server of the test file's own (no authentication) and `open(name)`, a gateway-role Bus
 * on it that logs nothing. `dispose()` stops the server; pass it to the file's `t.teardown`.
 */
export async function gatewayBusesOnTestNats(): Promise<{
  open: (name: string) => Promise<Bus>;
  dispose: () => Promise<void>;
}> {
  const nats = await startTestNats();
  const log = createLogger('off');
  return {
    open: (name) => connectBus({ url: nats.url, role: 'gateway', name, log }),
    dispose: () => nats.dispose(),
  };
}
