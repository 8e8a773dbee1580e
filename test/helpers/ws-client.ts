import { Ajv } from 'ajv';
import WebSocket from 'ws';
import { serverFrameSchema, type ServerFrame } from '../../gateway/websocket/frames.schema.js';

const validateServerFrame = new Ajv({ strict: true, allowUnionTypes: true, discriminator: true }).compile<ServerFrame>(
  serverFrameSchema,
);

/** A WebSocket test client for `/v1/ws` that checks every server frame against its schema. */
export interface LiveClient {
  readonly socket: WebSocket;
  /** Every frame received, in order. */
  readonly frames: ServerFrame[];
  /** Frames that broke the server frame schema (should stay empty), with ajv's complaint. */
  readonly invalidFrames: Array<{ frame: unknown; problem: string }>;
  /** Resolves with the close code and reason once the socket closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  send(frame: object | string): void;
  /** The next frame (after the ones already returned by `next`) that matches, within `timeoutMs`. */
  next<T extends ServerFrame = ServerFrame>(match?: (frame: ServerFrame) => boolean, timeoutMs?: number): Promise<T>;
  /** Waits for request `id`'s terminal frame; returns its deltas' text and the terminal frame. */
  finish(id: string, timeoutMs?: number): Promise<{ text: string; seqs: number[]; terminal: ServerFrame }>;
  /** Waits for `response.create` request `id`'s terminal frame; returns all its frames, in order. */
  finishResponse(id: string, timeoutMs?: number): Promise<Array<ServerFrame & Record<string, any>>>;
  close(): void;
}

export interface OpenOptions {
  /** Authenticate the upgrade with this key in an Authorization header. */
  headerKey?: string;
  /** Send an `auth` frame with this key as soon as the socket opens. */
  authFrameKey?: string;
}

/** Opens a socket to `<baseUrl>/v1/ws`; resolves once it is open (not yet authenticated). */
export async function openLiveClient(baseUrl: string, options: OpenOptions = {}): Promise<LiveClient> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/v1/ws`;
  const socket = new WebSocket(url, {
    headers: options.headerKey ? { authorization: `Bearer ${options.headerKey}` } : {},
  });
  const frames: ServerFrame[] = [];
  const invalidFrames: Array<{ frame: unknown; problem: string }> = [];
  const waiters = new Set<() => void>();
  let cursor = 0;
  socket.on('message', (data) => {
    const frame = JSON.parse((data as Buffer).toString('utf8'));
    if (!validateServerFrame(frame)) invalidFrames.push({ frame, problem: JSON.stringify(validateServerFrame.errors) });
    frames.push(frame);
    for (const wake of waiters) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      resolve({ code, reason: String(reason) });
      for (const wake of waiters) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(
        Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode, response: res }),
      ),
    );
  });
  socket.on('error', () => undefined);

  const waitFor = (found: () => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (found()) return resolve();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(frames).slice(0, 2000)}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (found()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        } else if (socket.readyState === WebSocket.CLOSED) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`socket closed while waiting for ${what}`));
        }
      };
      waiters.add(check);
    });

  const client: LiveClient = {
    socket,
    frames,
    invalidFrames,
    closed,
    send(frame) {
      socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    },
    async next<T extends ServerFrame>(match: (frame: ServerFrame) => boolean = () => true, timeoutMs = 5000) {
      let found: ServerFrame | undefined;
      await waitFor(
        () => {
          while (cursor < frames.length) {
            const frame = frames[cursor++]!;
            if (match(frame)) {
              found = frame;
              return true;
            }
          }
          return false;
        },
        timeoutMs,
        'a matching frame',
      );
      return found as T;
    },
    async finish(id, timeoutMs = 5000) {
      const isTerminal = (f: ServerFrame) => (f.type === 'done' || f.type === 'error') && f.id === id;
      await waitFor(() => frames.some(isTerminal), timeoutMs, `the end of request ${id}`);
      const mine = frames.filter(
        (f) => 'id' in f && f.id === id && (f.type === 'delta' || f.type === 'done' || f.type === 'error'),
      );
      return {
        text: mine.map((f) => (f.type === 'delta' ? (f.content ?? '') : '')).join(''),
        seqs: mine.map((f) => (f as { seq: number }).seq),
        terminal: mine.find(isTerminal)!,
      };
    },
    async finishResponse(id, timeoutMs = 5000) {
      const terminal = ['error', 'response.completed', 'response.incomplete', 'response.failed'];
      const mine = () => frames.filter((f) => 'id' in f && f.id === id) as Array<ServerFrame & Record<string, any>>;
      await waitFor(() => mine().some((f) => terminal.includes(f.type)), timeoutMs, `the end of response ${id}`);
      return mine();
    },
    close() {
      socket.close();
    },
  };
  if (options.authFrameKey !== undefined) client.send({ type: 'auth', api_key: options.authFrameKey });
  return client;
}
