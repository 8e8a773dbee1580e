import WebSocket from 'ws';
import { summarize, type LatencySummary } from './stats.js';
import type { Target } from './target.js';

export interface SessionsOptions {
  /** WebSocket sessions open at once, one chat request each. */
  sessions: number;
  /** Tokens each answer must carry to count as whole. */
  expectTokens: number;
  /** Longest the whole run may take. */
  durationMs: number;
  /** Once all are open, their chat frames go out spread evenly over this long (0: all at once). */
  rampMs: number;
  /** Called when every session is open and authenticated, before any chat is sent. */
  onAllReady?: () => void;
}

export interface SessionsResult {
  /** Sessions whose answer came whole: every token and a `done` frame with gap-free `seq`. */
  whole: number;
  /** Sessions that failed, were closed early or ended short. */
  lost: number;
  peakOpen: number;
  /** Time from sending `chat` to the first token. */
  ttft: LatencySummary;
  tokensPerSecond: number;
  firstError?: string;
}

const TOKEN_CHARS = 'tok '.length;
const wsUrl = (target: Target) => `${target.url.replace(/^http/, 'ws')}/v1/ws`;

/**
 * `sessions` WebSocket sessions held open at once (the protocol of docs/websocket.md), each
 * sending one `chat` frame and reading its deltas to the `done` frame: the streaming figure's
 * WebSocket twin. Sockets are opened in batches so the listen backlog is not the bottleneck.
 */
export async function runWebSocketSessions(target: Target, options: SessionsOptions): Promise<SessionsResult> {
  const ttfts: number[] = [];
  let whole = 0,
    lost = 0,
    open = 0,
    peakOpen = 0,
    tokens = 0;
  let firstError: string | undefined;
  const sockets = new Set<WebSocket>();
  const started = performance.now();

  // Every socket opens and authenticates first; then all send their chat within rampMs, so the
  // sessions are really open together rather than a rolling window of them.
  let readyCount = 0,
    neverReady = 0;
  let go!: () => void;
  const allReady = new Promise<void>((resolve) => (go = resolve)).then(() => options.onAllReady?.());
  const session = (index: number) =>
    new Promise<void>((resolve) => {
      const socket = new WebSocket(wsUrl(target), { headers: target.headers, perMessageDeflate: false });
      sockets.add(socket);
      let t0 = 0,
        chars = 0,
        nextSeq = 0,
        first = true,
        ended = false,
        wasReady = false;
      const end = (ok: boolean, why?: string) => {
        if (ended) return;
        ended = true;
        if (ok) whole++;
        else {
          lost++;
          firstError ??= why;
        }
        socket.close();
      };
      socket.on('open', () => {
        if (++open > peakOpen) peakOpen = open;
      });
      socket.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as {
          type: string;
          seq?: number;
          content?: string;
          error?: { code?: string; message?: string };
        };
        if (frame.type === 'ready') {
          wasReady = true;
          if (++readyCount === options.sessions) go();
          const send = () => {
            t0 = performance.now();
            const messages = [{ role: 'user', content: 'Say something short.' }];
            socket.send(JSON.stringify({ type: 'chat', id: `s${index}`, model: target.model, messages }));
          };
          allReady.then(
            () => setTimeout(send, (index / options.sessions) * options.rampMs),
            () => undefined,
          );
          return;
        }
        if (frame.seq !== undefined && frame.seq !== nextSeq++) return end(false, `seq gap at ${frame.seq}`);
        if (frame.type === 'delta' && frame.content) {
          if (first) {
            first = false;
            ttfts.push(performance.now() - t0);
          }
          chars += frame.content.length;
        } else if (frame.type === 'done') {
          const n = Math.round(chars / TOKEN_CHARS);
          tokens += n;
          end(n >= options.expectTokens, `short answer: ${n} tokens`);
        } else if (frame.type === 'error') {
          end(false, `${frame.error?.code}: ${frame.error?.message}`);
        }
      });
      socket.on('error', (err) => end(false, err.message));
      socket.on('close', () => {
        open--;
        // A socket that never got ready must not hold the others back.
        if (!wasReady && readyCount + ++neverReady >= options.sessions) go();
        end(false, 'closed before done');
        sockets.delete(socket);
        resolve();
      });
    });

  const deadline = setTimeout(() => {
    for (const socket of sockets) socket.terminate();
  }, options.durationMs);
  const all: Array<Promise<void>> = [];
  const BATCH = 500;
  for (let i = 0; i < options.sessions; i += BATCH) {
    for (let j = i; j < Math.min(i + BATCH, options.sessions); j++) all.push(session(j));
    // Let the batch's handshakes through before the next one.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await Promise.all(all);
  clearTimeout(deadline);
  const seconds = (performance.now() - started) / 1000;
  return {
    whole,
    lost,
    peakOpen,
    ttft: summarize(ttfts),
    tokensPerSecond: Math.round(tokens / seconds),
    ...(firstError ? { firstError } : {}),
  };
}
