import { AgentbusError } from '../../bus-schemas/index.js';
import type { Catalog } from '../../common/catalog.js';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { mayCall, type Caller } from '../auth/caller.js';
import { onAbort, reasonOf, type Call } from '../call/call.js';
import type { ChatInput, ChatOrigin, StartedChat } from '../chat/types.js';
import type { GatewayConfig } from '../config.js';
import { serverErrorLevel } from '../http/errors.js';
import type { ReadStoredTurn } from '../openai/stored-turn-reader.js';
import { refusalOf, type Admission } from '../rate-limit/rate-limiter.js';
import { inFrameTerms } from './chat-frame-body.js';
import { CLOSE_CODES, CLOSE_HANDSHAKE_MS, MAX_UNAUTHENTICATED_FRAME_BYTES } from './close-codes.js';
import type { ChatFrame, ClientFrame, ResponseCreateFrame, ServerFrame } from './frames.schema.js';
import { WEBSOCKET_PROTOCOL_VERSION } from './frames.schema.js';
import { FrameError, parseClientFrame, peekFrame, startsRequest } from './parse-frame.js';
import { relayChatFrames } from './chat-relay.js';
import { requestInputOf, type RequestInput } from './request-input.js';
import { FrameInbox } from './frame-inbox.js';
import { inResponseTerms, relayResponseEvents, type SendFrame } from './response-relay.js';
import { errorFrame } from './server-frames.js';
import type { SocketPort } from './socket-port.js';

export { CLOSE_CODES, CLOSE_HANDSHAKE_MS, MAX_UNAUTHENTICATED_FRAME_BYTES } from './close-codes.js';

export interface LiveSessionOptions {
  port: SocketPort;
  config: Pick<
    GatewayConfig,
    'wsMaxInflight' | 'wsAuthTimeoutMs' | 'wsMaxBufferedBytes' | 'wsPingIntervalMs' | 'inputLimits'
  >;
  catalog: Catalog;
  /** Starts a chat call: the chat pipeline with this gateway's dependencies. */
  startChat(input: ChatInput, origin: ChatOrigin): Promise<StartedChat>;
  /**
   * Takes a received frame's bytes from the key's byte budget (chat/admit.ts), before the frame
   * is parsed or checked; throws the 429 (or 413) an HTTP body of that size gets.
   */
  chargeBytes(caller: Caller, bytes: number): Promise<void>;
  /** The key's rate limits for a request frame (its bytes were charged as it arrived); throws the 429. */
  admit(caller: Caller): Promise<Admission>;
  /** The caller a presented key proves, or undefined when no key matches (the key store's lookup). */
  callerFor(key: string): Caller | undefined;
  /** Reads a tenant's stored responses, for `item_reference` input items of `response.create` frames. */
  storedTurns(tenant: string): ReadStoredTurn;
  /** The caller the upgrade request's Authorization header proved, if it carried one. */
  caller: Caller | undefined;
  /** The key of that header, looked up again for each request so a revoked key stops working on open sockets too. */
  apiKey: string | undefined;
  /** Subscribes to keys-file reloads: a socket whose key was revoked is closed then, busy or idle. */
  onKeysChange?: ((listener: () => void) => () => void) | undefined;
  log: Logger;
  clock?: Clock;
}

/** A frame that starts a request. */
type RequestFrame = ChatFrame | ResponseCreateFrame;

/** A request of this socket: its call once routing chose the agent(s), and what the client asked meanwhile. */
interface Request {
  call?: Call;
  /** Aborts routing (the classifier) when the request is cancelled or the socket closes first. */
  readonly routing: AbortController;
  cancelled?: string;
  closed?: string;
}

/**
 * One WebSocket connection of `GET /v1/ws` (docs/websocket.md): authentication, then any number
 * of chat requests at once (up to WS_MAX_INFLIGHT), each relayed as `delta` frames and exactly
 * one terminal `done` or `error` frame tagged with the client's id. `cancel` and the socket
 * closing cancel requests on the worker, as an HTTP client leaving does. The transport (routes.ts)
 * feeds it the socket's events: {@link receive}, {@link pong}, {@link socketClosed}.
 */
export class LiveSession {
  readonly #options: LiveSessionOptions;
  readonly #port: SocketPort;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #requests = new Map<string, Request>();
  #caller: Caller | undefined;
  #apiKey: string | undefined;
  #closing = false;
  #draining = false;
  #drained: (() => void) | undefined;
  #answeredPing = true;
  /** The frames received and not yet handled: each waits for its byte charge, and those before it. */
  readonly #inbox: FrameInbox;
  readonly #authTimer: TimerHandle | undefined;
  readonly #pingTimer: TimerHandle;
  readonly #stopWatchingKeys: (() => void) | undefined;

  constructor(options: LiveSessionOptions) {
    this.#options = options;
    this.#port = options.port;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log;
    this.#caller = options.caller;
    this.#apiKey = options.apiKey;
    this.#inbox = new FrameInbox(
      options.port,
      (data, isBinary) => this.#take(data, isBinary),
      (err: unknown) => this.#log.error({ err }, 'WebSocket frame failed unexpectedly'),
    );
    // A socket that did not authenticate with its upgrade request has a short time to do it.
    this.#authTimer =
      this.#caller === undefined
        ? this.#clock.setTimeout(() => this.#authTimedOut(), options.config.wsAuthTimeoutMs)
        : undefined;
    // Protocol-level pings find peers that vanished without a close (a laptop lid, a dead NAT).
    this.#pingTimer = this.#clock.setInterval(() => this.#ping(), options.config.wsPingIntervalMs);
    // On each keys-file reload, not only on the next chat frame: idle sockets and running streams stop too.
    this.#stopWatchingKeys = options.onKeysChange?.(() => {
      if (this.#caller !== undefined && !this.#closing) this.#checkKey(null);
    });
    if (this.#caller !== undefined) this.#ready(this.#caller);
  }

  /** Requests in flight on this socket. */
  get inFlight(): number {
    return this.#requests.size;
  }

  /**
   * Stops taking new requests and resolves once the ones in flight have ended (the caller then
   * closes the socket). Resolves at once for a socket with nothing in flight.
   */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#requests.size === 0 || this.#closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
  }

  /**
   * A frame from the client. Its bytes are charged to the key's byte budget before anything else
   * (as an HTTP body's are before it is parsed), so frames refused by their checks spend them too.
   * Frames are handled one at a time, in order; while one waits for its charge the socket is not
   * read, so a client sending faster than that queues in TCP, not in the gateway's memory.
   */
  receive(data: Buffer, isBinary: boolean): void {
    if (!this.#closing) this.#inbox.push(data, isBinary);
  }

  async #take(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.#closing) return;
    if (this.#caller === undefined && data.length > MAX_UNAUTHENTICATED_FRAME_BYTES) {
      this.close(CLOSE_CODES.tooBig, `frames over ${MAX_UNAUTHENTICATED_FRAME_BYTES} bytes need authentication first`);
      return;
    }
    const refusal = await this.#charge(data.length);
    if (this.#closing) return;
    if (refusal) this.#refuse(data, isBinary, refusal);
    else this.#handleFrame(data, isBinary);
  }

  /** Charges a frame's bytes; the refusal, if any. Frames before authentication are not charged (they are small). */
  async #charge(bytes: number): Promise<AgentbusError | undefined> {
    if (this.#caller === undefined) return undefined;
    try {
      await this.#options.chargeBytes(this.#caller, bytes);
      return undefined;
    } catch (err) {
      return AgentbusError.from(err);
    }
  }

  /**
   * Answers a frame over the byte budget with the refusal. It is read for its type and id only,
   * so that a refused request still gets its one terminal frame; a `cancel` is still applied,
   * since it only stops work.
   */
  #refuse(data: Buffer, isBinary: boolean, refusal: AgentbusError): void {
    const head = peekFrame(data, isBinary, this.#options.config.inputLimits.maxJsonDepth);
    if (head.type === 'cancel') return this.#handleFrame(data, isBinary);
    const isRequest = head.type === 'chat' || head.type === 'response.create';
    if (refusal.status >= 500)
      this.#log[serverErrorLevel(refusal)]({ err: refusal }, 'WebSocket frame could not be charged');
    this.#sendRefusal(isRequest ? head.id : null, refusal, refusalOf(refusal)?.retryAfterSeconds);
  }

  /**
   * The error frame of a refused frame: tagged with its id as that request's one frame (seq 0), or,
   * when the tag would end another request (see refusedFrameTag), untagged with `refused_id`
   * naming it, so the client still learns which frame was refused.
   */
  #sendRefusal(frameId: string | null, error: AgentbusError, retryAfter?: number, ofRequest = true): void {
    // A cancel's (or ping's) id names another request, ended or never sent: its error must not read as that one's end.
    const tag = ofRequest ? this.#refusedFrameTag(frameId) : null;
    const frame = errorFrame(tag, error, tag === null ? undefined : 0, retryAfter);
    this.#send(tag === null && frameId !== null ? { ...frame, refused_id: frameId } : frame);
  }

  /** A frame within budget: checked, then handled. A bad one is answered and forgotten. */
  #handleFrame(data: Buffer, isBinary: boolean): void {
    let id: string | null = null;
    let ofRequest = true;
    try {
      const frame = parseClientFrame(data, isBinary, this.#options.config.inputLimits.maxJsonDepth);
      if (frame.type === 'chat' || frame.type === 'response.create' || frame.type === 'cancel') id = frame.id;
      ofRequest = startsRequest(frame.type);
      this.#handle(frame);
    } catch (err) {
      const [error, frameId] = err instanceof FrameError ? [err.error, err.id] : [AgentbusError.from(err), id];
      if (err instanceof FrameError) ofRequest = err.startsRequest;
      // As over HTTP: a drain's refusal (bus_unavailable) is an operating condition, not a bug.
      if (error.status >= 500) this.#log[serverErrorLevel(error)]({ err }, 'WebSocket frame failed');
      this.#sendRefusal(frameId, error, undefined, ofRequest);
    }
  }

  /** The peer answered a ping. */
  pong(): void {
    this.#answeredPing = true;
  }

  /** The socket closed (either side): everything in flight is cancelled on its worker. */
  socketClosed(code: number): void {
    this.#stopWatchingKeys?.();
    this.#clock.clearTimeout(this.#authTimer);
    this.#clock.clearTimeout(this.#pingTimer);
    if (this.#requests.size > 0) {
      this.#log.info(
        { code, inFlight: this.#requests.size },
        'WebSocket closed with requests in flight; the workers were told to cancel them',
      );
    }
    this.#closing = true;
    this.#closeAll('the socket closed');
    this.#drained?.();
  }

  /** Ends the socket: requests in flight are closed on their workers, nothing more is sent. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#log.info({ code, inFlight: this.#requests.size }, `closing WebSocket: ${reason}`);
    this.#closeAll('the socket is closing');
    this.#port.close(code, reason);
    const timer = this.#clock.setTimeout(() => this.#port.terminate(), CLOSE_HANDSHAKE_MS);
    (timer as { unref?: () => void }).unref?.();
  }

  /** Sends `frame`; false when the socket is closing and it was not. `onSent`: see SocketPort. */
  #send(frame: ServerFrame, onSent?: (err?: Error) => void): boolean {
    if (this.#closing || !this.#port.open) return false;
    this.#port.send(JSON.stringify(frame), onSent);
    // The reader is this far behind: queueing more would grow the gateway's memory without bound.
    const limit = this.#options.config.wsMaxBufferedBytes;
    if (this.#port.bufferedAmount > limit) {
      this.close(CLOSE_CODES.slowReader, `reader too slow: over ${limit} bytes unsent`);
    }
    return true;
  }

  #closeAll(reason: string): void {
    for (const request of this.#requests.values()) {
      request.closed = reason;
      request.routing.abort();
      request.call?.close(reason);
    }
  }

  #settleIfDrained(): void {
    if (this.#draining && this.#requests.size === 0) this.#drained?.();
  }

  /** The agents this socket's key may call, as GET /v1/models lists them. */
  #ready(by: Caller): void {
    this.#send({
      type: 'ready',
      v: WEBSOCKET_PROTOCOL_VERSION,
      // The agents a chat or response.create frame may name: an embedding agent answers no chat.
      agents: this.#options.catalog.agents
        .filter((agent) => agent.kind === 'chat' && mayCall(by, agent.name))
        .map((agent) => ({ name: agent.name, description: agent.description })),
      max_inflight: this.#options.config.wsMaxInflight,
    });
  }

  #authTimedOut(): void {
    const ms = this.#options.config.wsAuthTimeoutMs;
    const message =
      `No auth frame within ${ms} ms: send {"type":"auth","api_key":"…"} first, ` +
      'or connect with an Authorization header.';
    this.#send(errorFrame(null, new AgentbusError('invalid_api_key', message)));
    this.close(CLOSE_CODES.authTimeout, 'authentication timeout');
  }

  /**
   * A reader that has not taken an answer whole while its worker waits to hear so: dropped at once,
   * unsent frames and all (a close handshake would still deliver the rest behind them).
   */
  #dropOverdue(reason: string): void {
    this.#log.warn(`dropping the WebSocket: ${reason}`);
    this.#closeAll(reason);
    this.#port.terminate();
  }

  #ping(): void {
    if (!this.#answeredPing) {
      this.#log.info('WebSocket peer missed a ping; dropping it');
      this.#closeAll('the client stopped answering pings');
      this.#port.terminate();
      return;
    }
    this.#answeredPing = false;
    this.#port.ping();
  }

  #authenticate(key: string): void {
    if (this.#caller !== undefined) throw new AgentbusError('invalid_request', 'This socket is already authenticated.');
    this.#caller = this.#options.callerFor(key);
    this.#apiKey = key;
    if (this.#caller === undefined) {
      this.#send(errorFrame(null, new AgentbusError('invalid_api_key', 'Incorrect API key provided.')));
      this.close(CLOSE_CODES.authFailed, 'invalid API key');
      return;
    }
    this.#clock.clearTimeout(this.#authTimer);
    this.#ready(this.#caller);
  }

  #handle(frame: ClientFrame): void {
    if (frame.type === 'ping') {
      this.#send({ type: 'pong', ...(frame.id === undefined ? {} : { id: frame.id }) });
      return;
    }
    if (frame.type === 'auth') {
      this.#authenticate(frame.api_key);
      return;
    }
    if (this.#caller === undefined) {
      throw new AgentbusError(
        'invalid_api_key',
        'Authenticate first: send {"type":"auth","api_key":"…"} (or connect with an Authorization header).',
      );
    }
    if (frame.type === 'cancel') {
      const request = this.#requests.get(frame.id);
      // Said, as OpenAI's Realtime API says it (response_cancel_not_active): a client waiting for
      // the cancel's effect learns there is none, and a mistyped id does not pass unnoticed.
      if (!request)
        throw new AgentbusError(
          'cancel_not_active',
          `No request with id "${frame.id}" is in flight on this socket: it already ended (its terminal ` +
            'frame is sent or on its way) or was never sent; nothing was cancelled.',
          { param: 'id' },
        );
      request.cancelled = 'cancelled by the client';
      request.routing.abort();
      request.call?.cancel(request.cancelled);
      return;
    }
    // Looked up again: the keys file may have revoked the key, or changed its scope, since the socket opened.
    const current = this.#checkKey(this.#refusedFrameTag(frame.id));
    if (current !== undefined) this.#start(frame, current);
  }

  /**
   * The socket's key as the key store has it now (its scope may have changed); a revoked key
   * is told with an error frame (tagged `tag`) and the socket closed with 4401, cancelling
   * whatever runs on it.
   */
  #checkKey(tag: string | null): Caller | undefined {
    const current = this.#apiKey === undefined ? undefined : this.#options.callerFor(this.#apiKey);
    if (current === undefined) {
      const error = new AgentbusError('invalid_api_key', 'This API key is no longer valid (revoked).');
      this.#send(errorFrame(tag, error, tag === null ? undefined : 0));
      this.close(CLOSE_CODES.authFailed, 'API key revoked');
      return undefined;
    }
    this.#caller = current;
    return current;
  }

  /**
   * The id to tag a refused frame's error with: its own, as the first and only frame of that
   * request (seq 0), unless a request of that id is in flight, which the error must not end.
   */
  #refusedFrameTag(id: string | null): string | null {
    return id !== null && !this.#requests.has(id) ? id : null;
  }

  #start(frame: RequestFrame, by: Caller): void {
    const { config } = this.#options;
    if (this.#requests.has(frame.id)) {
      // Sent untagged (see refusedFrameTag): it must not read as the end of the request in flight.
      throw new AgentbusError(
        'invalid_request',
        `A request with id "${frame.id}" is already in flight on this socket; use a new id.`,
        { param: 'id' },
      );
    }
    if (this.#draining) {
      throw new AgentbusError(
        'bus_unavailable',
        'The gateway is shutting down: it finishes the requests in flight but takes no new ones. ' +
          'Reconnect and send this one again.',
      );
    }
    if (this.#requests.size >= config.wsMaxInflight) {
      throw new AgentbusError(
        'too_many_concurrent_requests',
        `This socket already has ${config.wsMaxInflight} requests in flight (WS_MAX_INFLIGHT); ` +
          'wait for one to finish or open another socket.',
      );
    }
    // Registered before routing (which may ask the classifier), so the id counts as in flight
    // and a cancel or close meanwhile is applied as soon as the call exists.
    const request: Request = { routing: new AbortController() };
    this.#requests.set(frame.id, request);
    // Never rejects: #run answers every failure with an error frame.
    this.#run(frame, by, request).catch((err: unknown) =>
      this.#log.error({ err }, 'WebSocket request failed unexpectedly'),
    );
  }

  async #run(frame: RequestFrame, by: Caller, request: Request): Promise<void> {
    let chat: StartedChat;
    let checked: RequestInput | undefined;
    try {
      // Admitted before its checks, as an HTTP body is before it is read: a frame they refuse gives
      // its token back (its bytes were spent as it arrived, see receive).
      const admission = await this.#options.admit(by);
      try {
        const { inputLimits } = this.#options.config;
        checked = await requestInputOf(frame, inputLimits, this.#options.storedTurns(by.tenant));
      } catch (err) {
        await admission.release({ refund: true });
        throw err;
      }
      chat = await this.#options.startChat(checked.input, {
        admission,
        caller: by,
        log: this.#log,
        sessionToContinue: checked.type === 'chat' ? checked.frame.session_id : checked.continued,
        traceparent: frame.traceparent,
        refreshCache: frame.cache === 'refresh',
        signal: request.routing.signal,
        hints: {
          private: frame.private === true,
          ...(frame.priority ? { priority: frame.priority } : {}),
          ...(frame.timeout_ms !== undefined ? { timeoutMs: frame.timeout_ms } : {}),
        },
      });
    } catch (err) {
      this.#requests.delete(frame.id);
      this.#settleIfDrained();
      const error =
        frame.type === 'response.create'
          ? inResponseTerms(err, frame, checked?.type === 'response.create' ? checked.body : undefined)
          : err instanceof AgentbusError
            ? inFrameTerms(err, frame)
            : AgentbusError.from(err);
      if (error.status >= 500) this.#log[serverErrorLevel(error)]({ err }, 'WebSocket request failed to start');
      this.#send(errorFrame(frame.id, error, 0, refusalOf(err)?.retryAfterSeconds));
      return;
    }
    request.call = chat.call;
    onAbort(chat.call.overdue, () => this.#dropOverdue(reasonOf(chat.call.overdue)));
    if (request.closed !== undefined) chat.call.close(request.closed);
    else if (request.cancelled !== undefined) chat.call.cancel(request.cancelled);
    const send: SendFrame = (out, onSent) => this.#send(out, onSent);
    let doneSent = false;
    try {
      doneSent =
        checked.type === 'chat'
          ? await relayChatFrames(checked.frame, chat, send)
          : await relayResponseEvents(checked.frame, checked.body, chat, checked.echo, send);
    } finally {
      // Anything but a sent done: workers waiting for a receipt hear it was not delivered.
      if (!doneSent) chat.call.close('the answer did not reach the client whole');
      this.#requests.delete(frame.id);
      this.#settleIfDrained();
    }
  }
}
