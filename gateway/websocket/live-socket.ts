import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import { mayCall, type Caller } from '../auth/caller.js';
import type { AgentCall } from '../bus/agent-call.js';
import { startChatCall, type ChatDeps, type StartedChat } from '../chat/start-chat.js';
import { toAgentbusError } from '../plugins/error-handler.js';
import { refusalOf } from '../rate-limit/rate-limiter.js';
import type { ChatFrame, ClientFrame, ServerFrame } from './frames.schema.js';
import { WEBSOCKET_PROTOCOL_VERSION } from './frames.schema.js';
import { chatBodyOf, inFrameTerms } from './chat-frame-body.js';
import { CANCEL_GRACE_MS, CLOSE_CODES, CLOSE_HANDSHAKE_MS, MAX_UNAUTHENTICATED_FRAME_BYTES } from './close-codes.js';
import { FrameError, parseClientFrame } from './parse-frame.js';
import { deltaFrame, doneFrame, errorFrame } from './server-frames.js';

export { CLOSE_CODES, CLOSE_HANDSHAKE_MS, MAX_UNAUTHENTICATED_FRAME_BYTES } from './close-codes.js';

export interface LiveSocketOptions {
  chat: ChatDeps;
  /** The caller a presented key proves, or undefined when no key matches (the key store's lookup). */
  callerFor(key: string): Caller | undefined;
  /** The caller the upgrade request's Authorization header proved, if it carried one. */
  caller: Caller | undefined;
  /** The key of that header, looked up again for each request so a revoked key stops working on open sockets too. */
  apiKey: string | undefined;
  /** Subscribes to keys-file reloads (the key store's `onChange`): a socket whose key was revoked is closed then, busy or idle. */
  onKeysChange?: (listener: () => void) => () => void;
  log: FastifyBaseLogger;
}

/** A request of this socket: its call once routing chose the agent(s), and what the client asked meanwhile. */
interface InFlight {
  call?: AgentCall;
  /** Aborts routing (the classifier) when the request is cancelled or the socket closes first. */
  routing: AbortController;
  cancelled?: string;
  closed?: string;
}

// How to drain each live socket at shutdown; other sockets (none yet) drain at once.
const drains = new WeakMap<WebSocket, () => Promise<void>>();

/**
 * Stops a live socket taking new requests and resolves once the ones in flight have ended (the
 * caller then closes it). Resolves at once for a socket with nothing in flight.
 */
export function drainLiveSocket(socket: WebSocket): Promise<void> {
  return drains.get(socket)?.() ?? Promise.resolve();
}

/**
 * Serves one WebSocket connection of `GET /v1/ws`: authentication, then any number of chat
 * requests at once (up to WS_MAX_INFLIGHT), each relayed as `delta` frames and exactly one
 * terminal `done` or `error` frame tagged with the client's id. `cancel` and the socket closing
 * cancel requests on the worker, as an HTTP client leaving does.
 */
export function serveLiveSocket(socket: WebSocket, options: LiveSocketOptions): void {
  const { config, catalog } = options.chat;
  const log = options.log;
  const inFlight = new Map<string, InFlight>();
  let caller = options.caller;
  let apiKey = options.apiKey;
  let closing = false;
  let draining = false;
  let drained: (() => void) | undefined;
  const settleIfDrained = () => {
    if (draining && inFlight.size === 0) drained?.();
  };
  drains.set(socket, () => {
    draining = true;
    return inFlight.size === 0 || closing
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          drained = resolve;
        });
  });

  const send = (frame: ServerFrame) => {
    if (closing || socket.readyState !== socket.OPEN) return;
    socket.send(JSON.stringify(frame));
    // The reader is this far behind: queueing more would grow the gateway's memory without bound.
    if (socket.bufferedAmount > config.wsMaxBufferedBytes) {
      close(CLOSE_CODES.slowReader, `reader too slow: over ${config.wsMaxBufferedBytes} bytes unsent`);
    }
  };

  /** Ends the socket: requests in flight are cancelled on their workers, nothing more is sent. */
  function close(code: number, reason: string) {
    if (closing) return;
    closing = true;
    log.info({ code, inFlight: inFlight.size }, `closing WebSocket: ${reason}`);
    cancelAll('the socket is closing');
    socket.close(code, reason);
    setTimeout(() => socket.terminate(), CLOSE_HANDSHAKE_MS).unref();
  }

  function cancelAll(reason: string) {
    for (const request of inFlight.values()) {
      request.closed = reason;
      request.routing.abort();
      request.call?.close(reason);
    }
  }

  // The agents this socket's key may call, as GET /v1/models lists them.
  const ready = (by: Caller) =>
    send({
      type: 'ready',
      v: WEBSOCKET_PROTOCOL_VERSION,
      agents: catalog.agents
        .filter((agent) => mayCall(by, agent.name))
        .map((agent) => ({ name: agent.name, description: agent.description })),
      max_inflight: config.wsMaxInflight,
    });

  // A socket that did not authenticate with its upgrade request has a short time to do it.
  const authTimer =
    caller === undefined
      ? setTimeout(() => {
          send(
            errorFrame(
              null,
              new AgentbusError(
                'invalid_api_key',
                `No auth frame within ${config.wsAuthTimeoutMs} ms: send {"type":"auth","api_key":"…"} first, or connect with an Authorization header.`,
              ),
            ),
          );
          close(CLOSE_CODES.authTimeout, 'authentication timeout');
        }, config.wsAuthTimeoutMs)
      : undefined;

  // Protocol-level pings find peers that vanished without a close (a laptop lid, a dead NAT).
  let answeredPing = true;
  const pingTimer = setInterval(() => {
    if (!answeredPing) {
      log.info('WebSocket peer missed a ping; dropping it');
      cancelAll('the client stopped answering pings');
      socket.terminate();
      return;
    }
    answeredPing = false;
    socket.ping();
  }, config.wsPingIntervalMs);
  socket.on('pong', () => {
    answeredPing = true;
  });

  function authenticate(key: string) {
    if (caller !== undefined) throw new AgentbusError('invalid_request', 'This socket is already authenticated.');
    caller = options.callerFor(key);
    apiKey = key;
    if (caller === undefined) {
      send(errorFrame(null, new AgentbusError('invalid_api_key', 'Incorrect API key provided.')));
      close(CLOSE_CODES.authFailed, 'invalid API key');
      return;
    }
    clearTimeout(authTimer);
    ready(caller);
  }

  /**
   * Relays one request's reply frames; always ends with exactly one terminal frame. A cancel
   * does not end it early: the worker's own terminal frame says whether the turn was stored.
   */
  async function relay(id: string, frame: ChatFrame, chat: StartedChat) {
    let seq = 0;
    try {
      for await (const reply of chat.call) {
        if (reply.type === 'delta') send(deltaFrame(id, seq++, reply));
        else if (reply.type === 'done') send(doneFrame(id, seq++, reply, chat.identity.id));
        else if (reply.type === 'error') send(errorFrame(id, inFrameTerms(errorFromWire(reply.error), frame), seq++));
      }
    } catch (err) {
      const error = toAgentbusError(err as Error);
      chat.log[error.code === 'request_cancelled' ? 'info' : 'warn'](
        { code: error.code },
        `WebSocket request ended: ${error.message}`,
      );
      send(errorFrame(id, error, seq++));
    } finally {
      inFlight.delete(id);
      settleIfDrained();
    }
  }

  function startRequest(frame: ChatFrame, by: Caller) {
    if (inFlight.has(frame.id)) {
      // Sent untagged (see refusedFrameTag): it must not read as the end of the request in flight.
      throw new AgentbusError(
        'invalid_request',
        `A request with id "${frame.id}" is already in flight on this socket; use a new id.`,
        { param: 'id' },
      );
    }
    if (draining)
      throw new AgentbusError(
        'bus_unavailable',
        'The gateway is shutting down: it finishes the requests in flight but takes no new ones. Reconnect and send this one again.',
      );
    if (inFlight.size >= config.wsMaxInflight) {
      throw new AgentbusError(
        'too_many_concurrent_requests',
        `This socket already has ${config.wsMaxInflight} requests in flight (WS_MAX_INFLIGHT); wait for one to finish or open another socket.`,
      );
    }
    const body = chatBodyOf(frame);
    // Registered before routing (which may ask the classifier), so the id counts as in flight
    // and a cancel or close meanwhile is applied as soon as the call exists.
    const request: InFlight = { routing: new AbortController() };
    inFlight.set(frame.id, request);
    void (async () => {
      let chat: StartedChat;
      try {
        chat = await startChatCall(
          options.chat,
          body,
          {
            caller: by,
            log,
            sessionToContinue: frame.session_id,
            traceparent: frame.traceparent,
            refreshCache: frame.cache === 'refresh',
            signal: request.routing.signal,
            hints: {
              private: frame.private === true,
              ...(frame.priority ? { priority: frame.priority } : {}),
              ...(frame.timeout_ms !== undefined ? { timeoutMs: frame.timeout_ms } : {}),
            },
          },
          { stream: true },
        );
      } catch (err) {
        inFlight.delete(frame.id);
        settleIfDrained();
        const error = err instanceof AgentbusError ? inFrameTerms(err, frame) : toAgentbusError(err as Error);
        if (error.status >= 500) log.error({ err }, 'WebSocket request failed to start');
        send(errorFrame(frame.id, error, 0, refusalOf(err)?.retryAfterSeconds));
        return;
      }
      request.call = chat.call;
      if (request.closed !== undefined) chat.call.close(request.closed);
      else if (request.cancelled !== undefined) chat.call.cancel(request.cancelled, CANCEL_GRACE_MS);
      await relay(frame.id, frame, chat);
    })();
  }

  function handle(frame: ClientFrame) {
    if (frame.type === 'ping') return send({ type: 'pong', ...(frame.id === undefined ? {} : { id: frame.id }) });
    if (frame.type === 'auth') return authenticate(frame.api_key);
    if (caller === undefined) {
      throw new AgentbusError(
        'invalid_api_key',
        'Authenticate first: send {"type":"auth","api_key":"…"} (or connect with an Authorization header).',
      );
    }
    if (frame.type === 'cancel') {
      const request = inFlight.get(frame.id);
      if (request) {
        request.cancelled = 'cancelled by the client';
        request.routing.abort();
        request.call?.cancel(request.cancelled, CANCEL_GRACE_MS);
      }
      return;
    }
    // Looked up again: the keys file may have revoked the key, or changed its scope, since the socket opened.
    const current = checkKey(refusedFrameTag(frame.id));
    if (current !== undefined) startRequest(frame, current);
  }

  /**
   * The socket's key as the key store has it now (its scope may have changed); a revoked key
   * is told with an error frame (tagged `tag`) and the socket closed with 4401, cancelling
   * whatever runs on it.
   */
  function checkKey(tag: string | null): Caller | undefined {
    const current = apiKey === undefined ? undefined : options.callerFor(apiKey);
    if (current === undefined) {
      send(
        errorFrame(
          tag,
          new AgentbusError('invalid_api_key', 'This API key is no longer valid (revoked).'),
          tag === null ? undefined : 0,
        ),
      );
      close(CLOSE_CODES.authFailed, 'API key revoked');
      return undefined;
    }
    caller = current;
    return current;
  }
  // On each keys-file reload, not only on the next chat frame: idle sockets and running streams stop too.
  const unsubscribe = options.onKeysChange?.(() => {
    if (caller !== undefined && !closing) checkKey(null);
  });

  /**
   * The id to tag a refused frame's error with: its own, as the first and only frame of that
   * request (seq 0), unless a request of that id is in flight, which the error must not end.
   */
  const refusedFrameTag = (id: string | null) => (id !== null && !inFlight.has(id) ? id : null);

  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (closing) return;
    if (caller === undefined && data.length > MAX_UNAUTHENTICATED_FRAME_BYTES) {
      close(CLOSE_CODES.tooBig, `frames over ${MAX_UNAUTHENTICATED_FRAME_BYTES} bytes need authentication first`);
      return;
    }
    let id: string | null = null;
    try {
      const frame = parseClientFrame(data, isBinary, config.inputLimits.maxJsonDepth);
      if (frame.type === 'chat' || frame.type === 'cancel') id = frame.id;
      handle(frame);
    } catch (err) {
      // A bad frame is answered and forgotten: the socket and its other requests carry on.
      const [error, frameId] = err instanceof FrameError ? [err.error, err.id] : [toAgentbusError(err as Error), id];
      if (error.status >= 500) log.error({ err }, 'WebSocket frame failed');
      const tag = refusedFrameTag(frameId);
      send(errorFrame(tag, error, tag === null ? undefined : 0));
    }
  });

  socket.on('close', (code: number) => {
    unsubscribe?.();
    clearTimeout(authTimer);
    clearInterval(pingTimer);
    if (inFlight.size > 0)
      log.info(
        { code, inFlight: inFlight.size },
        'WebSocket closed with requests in flight; the workers were told to cancel them',
      );
    closing = true;
    cancelAll('the socket closed');
    drained?.();
  });

  if (caller !== undefined) ready(caller);
}
