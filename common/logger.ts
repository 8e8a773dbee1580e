import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const CENSOR = '[redacted]';

/**
 * The logged object with an `apiKey` one level down censored (`{ settings: { apiKey } }`, an SDK
 * client). pino's wildcard path `*.apiKey` did it by giving every top-level key of every line a
 * redacting stringifier, which cloned and walked each value: 2.3 % of the gateway's CPU
 * (BENCHMARKS.md). Copies only what it censors; runs before the serializers, so it leaves
 * everything else, fastify's request object included, as it was.
 */
export function withoutApiKeys(object: Record<string, unknown>): Record<string, unknown> {
  let censored: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'apiKey')) {
      censored ??= { ...object };
      censored[key] = { ...value, apiKey: CENSOR };
    }
  }
  return censored ?? object;
}

// Query parameters a client may put a key or password in by mistake (`?api_key=…`, `?token=…`).
const SECRET_PARAMS = /([?&](?:api[-_]?key|key|token|access[-_]?token|auth|password|secret)=)[^&#]*/gi;

/** `url` with the values of its secret-looking query parameters censored. */
export const withoutSecretParams = (url: string): string =>
  url.includes('=') ? url.replace(SECRET_PARAMS, `$1${CENSOR}`) : url;

/** The fields of an HTTP request a log line keeps: fastify's own, with the URL's secrets censored. */
interface LoggedRequest {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number } | null;
}
function requestForLog(req: LoggedRequest) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : withoutSecretParams(req.url),
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Longest a log line waits in the buffer of the JSON destination. */
export const LOG_FLUSH_MS = 200;
const WARN = 40;

// Until the process can stop cleanly (common/process.ts installs its SIGINT/SIGTERM handler),
// a signal ends it by the default action, without the exit hooks that flush the buffer: a
// gateway stopped while still connecting to NATS would lose its startup lines. So lines are
// written synchronously until then, and gathered only once it is running.
let gatherLines = false;

/** Lets the JSON loggers gather lines from now on: called once the shutdown handler is installed. */
export function gatherLogLines(): void {
  gatherLines = true;
}

/**
 * The root logger of a process. JSON lines by default (for collectors and tests); pretty
 * output only when a person is watching a terminal and has not asked for JSON.
 */
export function createLogger(
  name: string,
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  const base: LoggerOptions = {
    name,
    level: options.level ?? process.env['LOG_LEVEL'] ?? 'info',
    // Never log credentials, even when a request object slips into a log call.
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: CENSOR },
    formatters: { log: withoutApiKeys },
    // fastify takes a logger's own `req` serializer over its default (the same fields).
    serializers: { req: requestForLog },
  };
  if (options.destination) return pino(base, options.destination);
  if (process.stdout.isTTY && process.env['LOG_FORMAT'] !== 'json') {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } },
    });
  }
  // Info lines are gathered up to 8 KiB and written at least every LOG_FLUSH_MS, not one write per
  // line: at info a chat request writes three lines (gateway and worker), and writing them one
  // by one cost 5–9 % of the CPU per request (BENCHMARKS.md). pino flushes what is left,
  // synchronously, when the process exits (process.exit included); a SIGKILL loses at most
  // the last LOG_FLUSH_MS. Before the shutdown handler is installed, lines go out at once.
  // A warning or error is written at once, with the lines before it (one buffer, order kept).
  // maxLength bounds the buffer when stdout stalls (a reader that stopped reading): synchronous
  // writes used to block the process there; now lines beyond 16 MiB are dropped instead.
  const destination = pino.destination({ dest: 1, minLength: 8192, maxLength: 16 * 1024 * 1024, sync: false });
  // Whether lines may wait in the buffer (one was logged, or a write ran) since the last timed flush:
  // an idle process skips it, where sonic-boom would write nothing through the thread pool and wake
  // the event loop for it, five times a second.
  let unflushed = false;
  const flush = () => {
    // flush() throws once the destination was destroyed (closed at exit, or stdout gone).
    try {
      destination.flush();
    } catch {
      // Nothing left to write to.
    }
  };
  const flushNow = () => {
    try {
      destination.flushSync();
    } catch {
      flush(); // a write in progress (or stdout gone): let it finish asynchronously
    }
  };
  // sonic-boom's flush() does nothing while a write is in progress (one it started itself past
  // minLength, a warning's, or the last timed flush's, whose end waits for the loop's poll phase):
  // lines logged behind that write may stay buffered once it ends. So each write that wrote
  // something asks for one more timed flush, at the cost of one empty write once a burst is over.
  destination.on('write', (bytes: number) => {
    if (bytes > 0) unflushed = true;
  });
  const flushIfLogged = () => {
    if (!unflushed) return;
    unflushed = false;
    flush();
  };
  setInterval(flushIfLogged, LOG_FLUSH_MS).unref();
  return pino(
    {
      ...base,
      hooks: {
        logMethod(args, method, level) {
          method.apply(this, args);
          unflushed = true;
          if (!gatherLines) flushNow();
          else if (level >= WARN) flush();
        },
      },
    },
    destination,
  );
}
