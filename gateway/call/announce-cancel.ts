import { PROTOCOL_VERSION, encodeJson, type CancelRequest } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';

/**
 * Tells the workers of an agent (`<prefix>.<agent>.cancel`) to stop the request with this id: the
 * one holding it aborts its work and frees its slot. Published before any retry of the same id,
 * so a worker that gets both reads the cancel first and stops only the abandoned attempt. Never
 * throws: with the bus gone too, the worker's own deadline (or heartbeat probe) ends the work.
 */
export function announceCancel(bus: Pick<Bus, 'publish'>, subject: string, requestId: string, why: string): void {
  const cancel: CancelRequest = { v: PROTOCOL_VERSION, request_id: requestId, reason: why.slice(0, 200) };
  try {
    bus.publish(subject, encodeJson(cancel));
  } catch {
    // Nothing more to do: see above.
  }
}
