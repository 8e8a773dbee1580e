import { isNoRespondersError, isNoRespondersReply, type Bus } from '../common/bus.js';

/**
 * Sends `data` (a heartbeat) to a requester's reply inbox as a request of its own, which the
 * requester reads and never answers: when nobody is subscribed there any more (the gateway died,
 * or was cut off from NATS), the server answers "no responders" and `onGone` runs — publishing to
 * a dead inbox alone is silent. A timeout is the normal case. Throws as `bus.request` does when
 * the connection is gone.
 */
export function probeRequester(
  bus: Pick<Bus, 'request'>,
  replySubject: string,
  data: Uint8Array,
  timeoutMs: number,
  onGone: () => void,
): void {
  bus.request(replySubject, data, { timeoutMs }).then(
    (msg) => {
      if (isNoRespondersReply(msg)) onGone();
    },
    (err: unknown) => {
      if (isNoRespondersError(err)) onGone();
    },
  );
}
