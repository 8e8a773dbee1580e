import { AgentbusError } from '../../bus-schemas/index.js';

/**
 * What a client whose answer was still being made when a stopping gateway reached
 * GATEWAY_DRAIN_TIMEOUT_MS is told: 503 `bus_unavailable`, which the SDKs retry. server.ts ends the
 * calls still awaited with it through the bus (`bus.failInboxes`), so each goes its normal error
 * path: its worker is told to cancel (nothing is stored), no attempt is retried here, a JSON answer
 * gets this 503 (with `connection: close`), and a stream already started is cut without `[DONE]`.
 */
export class StoppedBeforeAnswer extends AgentbusError {
  // Nothing is stored, a fan-out's finished parts neither: a turn is committed only on its receipt, which an
  // answer that ends in an error never sends.
  constructor() {
    super(
      'bus_unavailable',
      'The gateway shut down before this answer was ready (GATEWAY_DRAIN_TIMEOUT_MS); nothing was stored. ' +
        'Send the request again (to another replica, or once this one is back).',
    );
  }
}
