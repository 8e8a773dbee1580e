import { EMBED_HEARTBEAT_HEADER, embedHeartbeatMsOf, encodeJson, type EmbedReply } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { probeRequester } from '../requester-probe.js';

export interface EmbedProgressOptions {
  bus: Pick<Bus, 'publish' | 'request'>;
  replySubject: string;
  requestId: string;
  /** The micro service id, named in the `ack`. */
  worker: string;
  /** What the request's `Agentbus-Heartbeat-Ms` header asked for. */
  intervalMs: number;
  /** Nobody listens on the reply subject any more: the requester gave up or died. Called once. */
  onRequesterGone(): void;
  clock?: Clock | undefined;
}

/**
 * The progress replies of an embed request that asked for them: `ack` at once, then a `heartbeat`
 * every `intervalMs`, so the requester takes a long batch for work, not for a lost worker, and
 * never asks another worker for it meanwhile. Each heartbeat goes out as a request (as chat's
 * do): NATS answers "no responders" once the reply inbox is gone, which a plain publish would
 * not tell. Returns the stop, to call before the answer goes out; a refused publish stops it too.
 */
export function startEmbedProgress(options: EmbedProgressOptions): () => void {
  const { bus, replySubject, requestId, intervalMs } = options;
  const clock = options.clock ?? systemClock;
  let stopped = false;
  const gone = () => {
    if (stopped) return;
    stop();
    options.onRequesterGone();
  };
  const send = (reply: EmbedReply, probe: boolean) => {
    const data = encodeJson(reply);
    if (!probe) return bus.publish(replySubject, data);
    probeRequester(bus, replySubject, data, intervalMs, gone);
  };
  const timer = clock.setInterval(() => {
    try {
      if (!stopped) send({ type: 'heartbeat', request_id: requestId }, true);
    } catch {
      // The connection is gone; the answer will fail the same way and be reported there.
      stop();
    }
  }, intervalMs);
  function stop() {
    stopped = true;
    clock.clearTimeout(timer);
  }
  try {
    // A plain publish: a requester gone already is found by the first heartbeat.
    send({ type: 'ack', request_id: requestId, worker: options.worker }, false);
  } catch {
    stop();
  }
  return stop;
}

/** What of an incoming embed request decides its progress replies. */
export interface ProgressRequest {
  reply?: string | undefined;
  headers?: { get(key: string): string } | undefined;
}

/**
 * {@link startEmbedProgress} when the request asked for progress replies (its header); a requester
 * that did not (one from before them) gets only the answer, as ever. Returns the stop.
 */
export function progressIfAsked(
  msg: ProgressRequest,
  options: Omit<EmbedProgressOptions, 'replySubject' | 'intervalMs'>,
): () => void {
  const intervalMs = embedHeartbeatMsOf(msg.headers?.get(EMBED_HEARTBEAT_HEADER));
  if (intervalMs === undefined || !msg.reply) return () => undefined;
  return startEmbedProgress({ ...options, replySubject: msg.reply, intervalMs });
}
